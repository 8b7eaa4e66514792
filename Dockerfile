# syntax=docker/dockerfile:1
# Image of the rebalancer service (and of its `generate` producer), for
# docker-compose.yml. See docs/operations.md.
#
#   docker build -t incremental-rebalancer:local .
#   docker run --rm incremental-rebalancer:local node bin/rebalancer.js --help
#
# Build stage: the same steps as the project's scripts/setup.sh, split into layers so a
# source change does not refetch TensorFlow: npm ci, then scripts/setup-tensorflow.sh
# (TensorFlow's C library from the PyPI tensorflow-cpu wheel, the tfjs-node binding
# compiled against it, checked to load natively), then the TypeScript build. setup.sh's
# other step, the Kafka broker jars from Maven Central (for `npm start`, dev/, and the
# tests), is not needed in the image. Needs the registries only (npm, PyPI, Debian).
FROM node:20-bookworm AS build
WORKDIR /app
# node:20-bookworm has python3, g++ and make, but not pip.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pip \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY scripts/setup-tensorflow.sh ./scripts/
RUN bash scripts/setup-tensorflow.sh
COPY tsconfig.json tsconfig.build.json ./
COPY schemas ./schemas
COPY bin ./bin
COPY src ./src
RUN npx tsc -p tsconfig.build.json \
 && npm prune --omit=dev --no-audit --no-fund --loglevel=error \
 && node -e "const tf = require('@tensorflow/tfjs-node'); if (tf.getBackend() !== 'tensorflow') process.exit(1)"

# Runtime stage: node_modules (with the compiled binding and TensorFlow's libraries in
# node_modules/@tensorflow/tfjs-node/deps/lib), the build, the CLI and the schemas.
FROM node:20-bookworm AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    MALLOC_MMAP_THRESHOLD_=131072 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    KAFKAJS_NO_PARTITIONER_WARNING=1
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/schemas ./schemas
# Checkpoints go to a volume at /data (owned by the unprivileged `node` user).
RUN mkdir -p /data/checkpoints && chown -R node:node /data
USER node
EXPOSE 9464
# The native backend must load in the runtime image too (fails the build otherwise).
RUN node -e "const tf = require('@tensorflow/tfjs-node'); if (tf.getBackend() !== 'tensorflow') process.exit(1)"
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=4 \
  CMD node -e "fetch('http://127.0.0.1:9464/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
CMD ["node", "bin/rebalancer.js", "run", "--http-host", "0.0.0.0", "--checkpoint-dir", "/data/checkpoints"]
