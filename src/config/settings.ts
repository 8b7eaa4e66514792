import { z } from 'zod';
import { EVENT_TYPES } from '../codec/index.js';
import type { EventType } from '../codec/types.js';

/**
 * Every setting of `rebalancer run`, once: its CLI flag, its environment variable, its
 * default, what a valid value looks like and the zod schema that parses the raw
 * string. The CLI builds its options from this table and `loadConfig` validates
 * against it, so help text, env names and validation never drift apart.
 */
export interface SettingSpec<T> {
  readonly flag: string;
  readonly env: string;
  readonly description: string;
  /** Raw default, parsed like any user value (so defaults are validated too). */
  readonly default: string;
  readonly expected: string;
  readonly schema: z.ZodType<T>;
  /** A secret (a password): its value is never quoted in an error message. */
  readonly secret: boolean;
}

const positiveInt = (max = 2 ** 31 - 1): z.ZodType<number> =>
  z.string().trim().regex(/^\d+$/).transform(Number).pipe(z.number().int().min(1).max(max));
const nonNegativeInt = (max = 2 ** 31 - 1): z.ZodType<number> =>
  z.string().trim().regex(/^\d+$/).transform(Number).pipe(z.number().int().min(0).max(max));
const finite = (min: number, max: number): z.ZodType<number> =>
  z.string().trim().min(1).transform(Number).pipe(z.number().min(min).max(max));
const bool: z.ZodType<boolean> = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');
const topicName: z.ZodType<string> = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/);
const brokerList: z.ZodType<string[]> = z
  .string()
  .transform((s) => s.split(',').map((b) => b.trim()).filter((b) => b.length > 0))
  .pipe(z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/)).min(1));
const eventTypeList: z.ZodType<EventType[]> = z
  .string()
  .transform((s) => s.split(',').map((t) => t.trim()).filter((t) => t.length > 0))
  .pipe(z.array(z.enum(EVENT_TYPES)));
const nonEmptyEventTypeSet: z.ZodType<EventType[]> = eventTypeList.pipe(
  z
    .array(z.enum(EVENT_TYPES))
    .min(1)
    .refine((types) => new Set(types).size === types.length),
);

function setting<T>(flag: string, env: string, description: string, def: string, expected: string, schema: z.ZodType<T>, options: { secret?: boolean } = {}): SettingSpec<T> {
  return { flag, env, description, default: def, expected, schema, secret: options.secret === true };
}

/** Empty (not set), or a TCP port in [0, 65535] (0 = any free port); '' round-trips through the trainer thread's config message. */
const optionalPort: z.ZodType<'' | number> = z
  .string()
  .trim()
  .pipe(z.union([z.literal(''), z.string().regex(/^\d{1,5}$/).transform(Number).pipe(z.number().int().min(0).max(65_535))]));
/** Empty (no SASL), or a kafkajs SASL mechanism; Kafka's own spelling (PLAIN, SCRAM-SHA-256) is accepted too. */
const saslMechanism: z.ZodType<'' | 'plain' | 'scram-sha-256' | 'scram-sha-512'> = z.string().trim().toLowerCase().pipe(z.enum(['', 'plain', 'scram-sha-256', 'scram-sha-512']));
/** Empty, or a file path (read and checked when the Kafka client is made: src/adapters/kafka/security.ts). */
const optionalPath: z.ZodType<string> = z.string().trim();

/** The `run --help` text of a setting: what it does, its allowed values or range, default and variable. */
export function settingHelp(spec: SettingSpec<unknown>): string {
  return `${spec.description} (${spec.expected}; default: ${spec.default || '""'}; env ${spec.env})`;
}

export const SETTINGS = {
  brokers: setting('--brokers', 'REBALANCER_BROKERS', 'comma-separated Kafka bootstrap brokers (ignored with --embedded)', '127.0.0.1:9092', 'host:port[,host:port...]', brokerList),
  clientId: setting('--client-id', 'REBALANCER_CLIENT_ID', 'Kafka client id', 'rebalancer', 'a non-empty string', z.string().min(1)),
  topic: setting('--topic', 'REBALANCER_TOPIC', 'events topic (Avro InteractionEvent)', 'interactions', 'a Kafka topic name ([A-Za-z0-9._-], 1-249 chars)', topicName),
  dlqTopic: setting('--dlq-topic', 'REBALANCER_DLQ_TOPIC', 'dead-letter topic for undecodable or invalid events', 'interactions.dlq', 'a Kafka topic name ([A-Za-z0-9._-], 1-249 chars)', topicName),
  recommendationsTopic: setting('--recommendations-topic', 'REBALANCER_RECOMMENDATIONS_TOPIC', 'output topic for recommendations (Avro Recommendation)', 'recommendations', 'a Kafka topic name ([A-Za-z0-9._-], 1-249 chars)', topicName),
  groupId: setting('--group-id', 'REBALANCER_GROUP_ID', 'Kafka consumer group id', 'rebalancer', 'a non-empty string', z.string().min(1)),
  sessionTimeoutMs: setting('--session-timeout-ms', 'REBALANCER_SESSION_TIMEOUT_MS', 'consumer group session timeout (a dead member is replaced after this)', '30000', 'an integer in [6000, 300000]', positiveInt(300_000).pipe(z.number().min(6_000))),
  produceTimeoutMs: setting('--produce-timeout-ms', 'REBALANCER_PRODUCE_TIMEOUT_MS', 'longest wait for one produce (recommendations, dead letters) to be acknowledged: a recommendation batch past it is dropped and counted, a dead-letter batch is retried', '10000', 'an integer in [100, 600000]', positiveInt(600_000).pipe(z.number().min(100))),
  connectTimeoutMs: setting('--connect-timeout-ms', 'REBALANCER_CONNECT_TIMEOUT_MS', 'at start: longest wait for the Kafka cluster (connect, topics, producer) before the service gives up with REB_KAFKA_UNAVAILABLE and exits', '30000', 'an integer in [1000, 600000]', positiveInt(600_000).pipe(z.number().min(1_000))),
  schemaRegistry: setting('--schema-registry', 'REBALANCER_SCHEMA_REGISTRY', 'Confluent-compatible schema registry (base URL of its REST API, e.g. http://registry:8080/apis/ccompat/v7): events in the Confluent wire format (0x00 + schema id) wait while their id is fetched, and wait (never lost) while the registry does not answer; empty = none (Confluent-framed events are dead-lettered as unknown_schema)', '', 'empty, or an http(s) URL', z.string().trim().refine((u) => u === '' || /^https?:\/\/[^\s/]+/.test(u))),
  registryTimeoutMs: setting('--registry-timeout-ms', 'REBALANCER_REGISTRY_TIMEOUT_MS', 'longest wait for one schema-registry request; past it the request counts as unavailable and is retried (capped backoff)', '5000', 'an integer in [100, 600000]', positiveInt(600_000).pipe(z.number().min(100))),
  wireFormat: setting('--wire-format', 'REBALANCER_WIRE_FORMAT', 'framing of the recommendations the service writes: single-object (Avro single-object encoding) or confluent (0x00 + schema id; the schema is registered under <recommendations-topic>-value at start, needs --schema-registry). Events are read in either framing, per message', 'single-object', 'one of single-object, confluent', z.enum(['single-object', 'confluent'])),
  kafkaSaslMechanism: setting('--kafka-sasl-mechanism', 'REBALANCER_KAFKA_SASL_MECHANISM', 'SASL authentication of every Kafka client (consumer, producer, admin): plain, scram-sha-256 or scram-sha-512, with --kafka-sasl-username and the password; empty = no SASL (without --kafka-ssl: SASL_PLAINTEXT, with it: SASL_SSL)', '', 'empty, or one of plain, scram-sha-256, scram-sha-512', saslMechanism),
  kafkaSaslUsername: setting('--kafka-sasl-username', 'REBALANCER_KAFKA_SASL_USERNAME', 'SASL user name (needs --kafka-sasl-mechanism)', '', 'a user name (needed with --kafka-sasl-mechanism)', z.string()),
  kafkaSaslPassword: setting('--kafka-sasl-password', 'REBALANCER_KAFKA_SASL_PASSWORD', 'SASL password; prefer the variable (a flag shows in the process list). Never logged, never in /state or an error message', '', 'a password without line breaks (needed with --kafka-sasl-mechanism; a file read into the variable often ends with one)', z.string().refine((v) => !/[\r\n]/.test(v)), { secret: true }),
  kafkaSsl: setting('--kafka-ssl', 'REBALANCER_KAFKA_SSL', 'connect to Kafka over TLS (SSL or SASL_SSL listeners); the broker certificate is verified against the system CAs, or --kafka-ssl-ca', 'false', 'true or false', bool),
  kafkaSslCa: setting('--kafka-ssl-ca', 'REBALANCER_KAFKA_SSL_CA', 'PEM file of the CA certificate(s) that signed the brokers\' certificates, instead of the system CAs (needs --kafka-ssl true)', '', 'empty, or a readable PEM file', optionalPath),
  kafkaSslCert: setting('--kafka-ssl-cert', 'REBALANCER_KAFKA_SSL_CERT', 'PEM file of the client certificate, for brokers that authenticate clients by TLS (ssl.client.auth=required; with --kafka-ssl-key)', '', 'empty, or a readable PEM file', optionalPath),
  kafkaSslKey: setting('--kafka-ssl-key', 'REBALANCER_KAFKA_SSL_KEY', 'PEM file of the client certificate\'s private key (unencrypted; with --kafka-ssl-cert)', '', 'empty, or a readable PEM file', optionalPath),
  kafkaSslRejectUnauthorized: setting('--kafka-ssl-reject-unauthorized', 'REBALANCER_KAFKA_SSL_REJECT_UNAUTHORIZED', 'refuse a broker whose certificate does not verify (false: accept any certificate: encrypted but open to a man in the middle; tests only)', 'true', 'true or false', bool),
  fromBeginning: setting('--from-beginning', 'REBALANCER_FROM_BEGINNING', 'start at the earliest offset when the group has no committed offset', 'true', 'true or false', bool),

  windowBuckets: setting('--window-buckets', 'REBALANCER_WINDOW_BUCKETS', 'sliding window: number of event-time buckets', '60', 'an integer in [1, 100000]', positiveInt(100_000)),
  windowWidthMs: setting('--window-width-ms', 'REBALANCER_WINDOW_WIDTH_MS', 'sliding window: bucket width in ms', '60000', 'an integer in [1, 86400000]', positiveInt(86_400_000)),
  windowLatenessMs: setting('--window-lateness-ms', 'REBALANCER_WINDOW_LATENESS_MS', 'events older than the window head minus this are late', '300000', 'an integer >= 0', nonNegativeInt()),
  maxFutureSkewMs: setting('--max-future-skew-ms', 'REBALANCER_MAX_FUTURE_SKEW_MS', 'events more than this ahead of the watermark (newest event time seen) go to the DLQ as future_timestamp, unless a run of them shows the stream jumped ahead; 0 = no check', '3600000', 'an integer >= 0', nonNegativeInt(Number.MAX_SAFE_INTEGER)),
  partitionIdleMs: setting('--partition-idle-ms', 'REBALANCER_PARTITION_IDLE_MS', 'event-time alignment: the window follows the slowest assigned partition (events of partitions read ahead wait for it); a partition with nothing left to read (caught up, or empty) stops holding it this long after its last event or its assignment (Flink withIdleness), which is also how long the newest events of a finished replay wait; 0 = no alignment (the window follows the newest event of any partition)', '5000', 'an integer in [0, 86400000]', nonNegativeInt(86_400_000)),

  weightPolicy: setting('--weight-policy', 'REBALANCER_WEIGHT_POLICY', 'class weight policy of training (default none: the service balances at serving time within --max-micro-loss, which beat every training-side weighting on the realistic profile over several seeds and skews: README, backtest)', 'none', 'one of none, inverse_frequency, sqrt_inverse, effective_number', z.enum(['none', 'inverse_frequency', 'sqrt_inverse', 'effective_number'])),
  weightBeta: setting('--weight-beta', 'REBALANCER_WEIGHT_BETA', 'effective-number β', '0.999', 'a number strictly between 0 and 1', finite(1e-12, 1 - 1e-12)),
  weightAlpha: setting('--weight-alpha', 'REBALANCER_WEIGHT_ALPHA', 'additive smoothing α of the category prior', '1', 'a number >= 0', finite(0, 1e9)),
  weightMin: setting('--weight-min', 'REBALANCER_WEIGHT_MIN', 'lower clip of class weights', '0.1', 'a number in (0, 1]', finite(1e-9, 1)),
  weightMax: setting('--weight-max', 'REBALANCER_WEIGHT_MAX', 'upper clip of class weights', '10', 'a number >= 1', finite(1, 1e9)),
  weightSmoothing: setting('--weight-smoothing', 'REBALANCER_WEIGHT_SMOOTHING', 'η of w ← (1−η)w + η·w_new', '0.2', 'a number in (0, 1]', finite(1e-9, 1)),

  reservoirSize: setting('--reservoir-size', 'REBALANCER_RESERVOIR_SIZE', 'per-category reservoir capacity (events)', '500', 'an integer in [1, 1000000]', positiveInt(1_000_000)),
  replaySize: setting('--replay-size', 'REBALANCER_REPLAY_SIZE', 'class-balanced replay memory (CBRS) capacity (events)', '5000', 'an integer in [1, 10000000]', positiveInt(10_000_000)),
  replayEventTypes: setting('--replay-event-types', 'REBALANCER_REPLAY_EVENT_TYPES', 'event types kept in the reservoirs and the replay memory, so replayed samples and reservoir recommendation candidates are of these types only; the others still count in the window (use the types the model trains on)', 'click,add_to_cart,purchase', 'a non-empty comma-separated list of distinct event types from view, click, add_to_cart, purchase', nonEmptyEventTypeSet),
  targetMixRho: setting('--target-mix-rho', 'REBALANCER_TARGET_MIX_RHO', 'batch target mix q_c ∝ π_c^ρ (1 = stream mix, the default: no resampling; 0 = uniform)', '1', 'a number in [0, 1]', finite(0, 1)),
  batchOversample: setting('--batch-oversample', 'REBALANCER_BATCH_OVERSAMPLE', 'extra composed-batch slots per fresh event: 0 = batches of --batch-size (the target mix undersamples the majority); x > 0 = (1 + x)·batch-size slots, so the majority keeps more of its events and the minority gets the extra slots by replay', '0', 'a number in [0, 10]', finite(0, 10)),
  undersampling: setting('--undersampling', 'REBALANCER_UNDERSAMPLING', 'which fresh events of an undersampled (majority) category a batch keeps when --target-mix-rho < 1: uniform (a random subset) or informed (the ones the current model scores lowest, i.e. with the highest loss −log σ(s): hard examples, NearMiss-style; as many per category as uniform keeps on average; with the trainer thread the main thread keeps its own copy of the latest model snapshot for it, at most one copy every 2 s)', 'uniform', 'one of uniform, informed', z.enum(['uniform', 'informed'])),
  synthetic: setting('--synthetic', 'REBALANCER_SYNTHETIC', 'synthetic minority samples in replay slots (a share --synthetic-fraction of them, categories with at least 2 reservoir events): latent_smote (SMOTE in the model\'s input space: λ·inputs(a) + (1−λ)·inputs(b) of two same-category reservoir events, λ ~ U(0, 1), the gradient shared ×λ / ×(1−λ) between their rows; Chawla et al. 2002), gaussian (generative oversampling: a draw from a per-category diagonal Gaussian of the replayed positives\' model inputs, fitted online by the trainer; trains the dense weights only; a category replays until 32 of its positives were fitted) or off', 'off', 'one of off, latent_smote, gaussian', z.enum(['off', 'latent_smote', 'gaussian'])),
  syntheticFraction: setting('--synthetic-fraction', 'REBALANCER_SYNTHETIC_FRACTION', 'share of the replay slots filled with synthetic samples when --synthetic is on', '0.5', 'a number in [0, 1]', finite(0, 1)),
  syntheticWeight: setting('--synthetic-weight', 'REBALANCER_SYNTHETIC_WEIGHT', 'a synthetic sample\'s weight relative to a replayed sample\'s of its category', '1', 'a number in (0, 100]', finite(1e-9, 100)),
  maxIdLength: setting('--max-id-length', 'REBALANCER_MAX_ID_LENGTH', 'longest eventId, userId, itemId, categoryId and sessionId of a valid event (longer: dead-lettered as field_too_long); also the longest userId /recommendations accepts', '256', 'an integer in [16, 1024]', positiveInt(1_024).pipe(z.number().min(16))),
  batchSize: setting('--batch-size', 'REBALANCER_BATCH_SIZE', 'fresh events per training batch', '256', 'an integer in [1, 65536]', positiveInt(65_536)),
  batchMaxWaitMs: setting('--batch-max-wait-ms', 'REBALANCER_BATCH_MAX_WAIT_MS', 'emit a partial batch after this many ms', '250', 'an integer in [1, 600000]', positiveInt(600_000)),
  train: setting('--train', 'REBALANCER_TRAIN', 'train the model on composed batches (false: ingest and balance only)', 'true', 'true or false', bool),
  trainerThread: setting('--trainer-thread', 'REBALANCER_TRAINER_THREAD', 'train on a worker thread that owns TensorFlow, serving from published parameter snapshots (a request never waits on a step); false = train inline on the main thread (tiny deployments)', 'true', 'true or false', bool),
  snapshotIntervalMs: setting('--snapshot-interval-ms', 'REBALANCER_SNAPSHOT_INTERVAL_MS', 'least time between the trainer thread\'s parameter snapshots for serving (served parameters lag the newest step by at most this plus one step plus one copy)', '500', 'an integer in [10, 600000]', positiveInt(600_000).pipe(z.number().min(10))),
  recycleAtTensorId: setting('--recycle-at-tensor-id', 'REBALANCER_RECYCLE_AT_TENSOR_ID', 'replace the trainer thread by a fresh one from its current state when its native tensor-id counter (32-bit, tfjs issue 8735) reaches this', '1073741824', 'an integer in [1000, 2000000000]', positiveInt(2_000_000_000).pipe(z.number().min(1_000))),

  modelDim: setting('--model-dim', 'REBALANCER_MODEL_DIM', 'embedding width of the model', '16', 'an integer in [1, 1024]', positiveInt(1024)),
  modelUserRows: setting('--model-user-rows', 'REBALANCER_MODEL_USER_ROWS', 'hashed user table rows', '65536', 'an integer in [1, 67108864]', positiveInt(1 << 26)),
  modelItemRows: setting('--model-item-rows', 'REBALANCER_MODEL_ITEM_ROWS', 'hashed item table rows', '65536', 'an integer in [1, 67108864]', positiveInt(1 << 26)),
  learningRate: setting('--learning-rate', 'REBALANCER_LEARNING_RATE', 'dense learning rate', '0.002', 'a number in (0, 10]', finite(1e-12, 10)),
  embeddingLearningRate: setting('--embedding-learning-rate', 'REBALANCER_EMBEDDING_LEARNING_RATE', 'embedding (per-row Adagrad) learning rate', '0.05', 'a number in (0, 10]', finite(1e-12, 10)),
  loss: setting('--loss', 'REBALANCER_LOSS', 'training loss', 'bce', 'one of bce, focal', z.enum(['bce', 'focal'])),
  logitAdjustTau: setting('--logit-adjust-tau', 'REBALANCER_LOGIT_ADJUST_TAU', 'logit adjustment τ (0 disables)', '0', 'a number in [0, 10]', finite(0, 10)),
  bagging: setting('--bagging', 'REBALANCER_BAGGING', 'online bagging for imbalance (Oza 2001; Wang, Minku & Yao, TKDE 2015): --bagging-replicas output heads over the shared embeddings, each positive trained Poisson(λ_c) times per head, λ_c = π_max/π_c (oob: oversampling the minority) or π_min/π_c (uob: undersampling the majority), clipped to [1/--bagging-lambda-max, --bagging-lambda-max]; negatives Poisson(1); serving uses the heads\' mean; off = one output layer', 'off', 'one of off, oob, uob', z.enum(['off', 'oob', 'uob'])),
  baggingReplicas: setting('--bagging-replicas', 'REBALANCER_BAGGING_REPLICAS', 'output heads K of online bagging (--bagging oob|uob)', '4', 'an integer in [2, 64]', positiveInt(64).pipe(z.number().min(2))),
  baggingLambdaMax: setting('--bagging-lambda-max', 'REBALANCER_BAGGING_LAMBDA_MAX', 'clip of online bagging\'s Poisson rates: λ_c in [1/x, x]', '10', 'a number in [1, 1000]', finite(1, 1000)),
  categoryLrGamma: setting('--category-lr-gamma', 'REBALANCER_CATEGORY_LR_GAMMA', 'per-category learning rate of the embedding rows (Li et al., ICLR 2022, per category): the Adagrad step of a category\'s item and category rows is scaled by f_c ∝ π_c^-γ (the live prior; prior-weighted mean 1, clipped by --category-lr-clip); the loss, the dense weights and the user rows are untouched, unlike class weights (1 = inverse frequency, 0 = off)', '0', 'a number in [0, 1]', finite(0, 1)),
  categoryLrClip: setting('--category-lr-clip', 'REBALANCER_CATEGORY_LR_CLIP', 'bound of the per-category learning-rate factor: f_c is clipped to [1/clip, clip]', '4', 'a number in [1, 100]', finite(1, 100)),
  maxMicroLoss: setting('--max-micro-loss', 'REBALANCER_MAX_MICRO_LOSS', 'serving-time logit adjustment (rank by s − τ·log prior of the item\'s category): the largest relative micro HR@10 loss against the unadjusted ranking the adjustment may spend; τ is chosen online from the prequential rankings to maximise macro HR@10 within it (0 = no adjustment)', '0.02', 'a number in [0, 0.5]', finite(0, 0.5)),
  negatives: setting('--negatives', 'REBALANCER_NEGATIVES', 'sampled negatives per positive', '4', 'an integer in [0, 1000]', nonNegativeInt(1000)),
  catalogCapacity: setting('--catalog-capacity', 'REBALANCER_CATALOG_CAPACITY', 'items the trainer\'s negative-sampling catalog holds (about 150 bytes each in the trainer thread\'s heap; when full, a new item replaces a uniformly chosen one); applies to a fresh trainer (a restored one keeps its catalog)', '200000', 'an integer in [100, 67108864]', positiveInt(67_108_864).pipe(z.number().min(100))),
  uniformNegativeShare: setting('--uniform-negative-share', 'REBALANCER_UNIFORM_NEGATIVE_SHARE', 'share of negatives drawn uniformly from the item catalog; the rest by recent popularity (which teaches the model to rank popular items down)', '1', 'a number in [0, 1]', finite(0, 1)),
  wideFeatures: setting('--wide-features', 'REBALANCER_WIDE_FEATURES', 'the model\'s wide part: streaming counts (item popularity, recent popularity, user–category affinity, repeats) with a learned weight each', 'true', 'true or false', bool),
  wideLearningRate: setting('--wide-learning-rate', 'REBALANCER_WIDE_LEARNING_RATE', 'Adam learning rate of the wide part\'s feature weights', '0.05', 'a number in (0, 10]', finite(1e-12, 10)),
  popularityHalfLife: setting('--popularity-half-life', 'REBALANCER_POPULARITY_HALF_LIFE', 'half-life of the recent-popularity counts of the wide part, in positives', '20000', 'an integer in [1, 1000000000]', positiveInt(1_000_000_000)),
  initFrom: setting('--init-from', 'REBALANCER_INIT_FROM', 'warm start: the model starts from a saved model (a model directory, a checkpoint directory or one `backtest --save-models` wrote): its weights, count features and serving adjustment, so it scores as saved; the trainer starts fresh (optimizer, negative catalog, events trained, evaluation, random draws from --seed), as in fine-tuning. Its shape must match --model-dim, --model-user-rows, --model-item-rows, --wide-features and --popularity-half-life. Read only when the model starts fresh: a model restored from this service\'s own checkpoint (--checkpoint-dir) takes precedence. Empty = a random initialisation', '', 'empty, or a directory path', z.string().trim().refine((v) => !/[\r\n]/.test(v))),
  itemEmbeddings: setting('--item-embeddings', 'REBALANCER_ITEM_EMBEDDINGS', 'pre-trained item vectors placed at each item\'s hashed row of the item table when the model starts fresh (after --init-from; a restored checkpoint takes precedence): FILE.csv with lines itemId,v1,...,vd, or FILE.npy (little-endian float32, shape (n, d)) with the ids one per line in FILE.ids; d = 2 x --model-dim (GMF then MLP values); items sharing a hashed row get their mean. Empty = none', '', 'empty, or a .csv or .npy file path', z.string().trim().refine((v) => v === '' || /\.(csv|npy)$/i.test(v))),

  httpHost: setting('--http-host', 'REBALANCER_HTTP_HOST', 'HTTP listen address', '127.0.0.1', 'an IP address or host name', z.string().min(1)),
  httpPort: setting('--http-port', 'REBALANCER_HTTP_PORT', 'HTTP port (/recommendations; also /metrics, /state, /state/history, /healthz, /readyz and the live page unless --admin-port is set; 0 = any free port)', '9464', 'an integer in [0, 65535]', nonNegativeInt(65_535)),
  adminHost: setting('--admin-host', 'REBALANCER_ADMIN_HOST', 'listen address of the admin routes (with --admin-port); empty = --http-host', '', 'empty, or an IP address or host name', z.string().trim()),
  adminPort: setting('--admin-port', 'REBALANCER_ADMIN_PORT', 'a separate HTTP port for the admin routes (/metrics, /state, /state/history, /healthz, /readyz, the live page /), so that --http-port serves /recommendations alone; empty = every route on --http-port; 0 = any free port', '', 'empty, or an integer in [0, 65535]', optionalPort),

  checkpointDir: setting('--checkpoint-dir', 'REBALANCER_CHECKPOINT_DIR', 'checkpoint directory', '.rebalancer/checkpoints', 'a directory path', z.string().min(1)),
  checkpointIntervalMs: setting('--checkpoint-interval-ms', 'REBALANCER_CHECKPOINT_INTERVAL_MS', 'time between checkpoints (offsets are committed after each)', '10000', 'an integer in [100, 86400000]', positiveInt(86_400_000).pipe(z.number().min(100))),
  checkpointsKept: setting('--checkpoints-kept', 'REBALANCER_CHECKPOINTS_KEPT', 'checkpoints kept on disk', '3', 'an integer in [1, 100]', positiveInt(100)),
  allowEmptyRestore: setting('--allow-empty-restore', 'REBALANCER_ALLOW_EMPTY_RESTORE', 'when checkpoints exist but none verifies, start from empty state (false: refuse to start, naming each checkpoint and why it failed)', 'false', 'true or false', bool),
  checkpointStallMs: setting('--checkpoint-stall-ms', 'REBALANCER_CHECKPOINT_STALL_MS', '/readyz fails when the last checkpoint (and so the last offset commit) is older than this', '60000', 'an integer in [1000, 86400000]', positiveInt(86_400_000).pipe(z.number().min(1_000))),
  dlqStallMs: setting('--dlq-stall-ms', 'REBALANCER_DLQ_STALL_MS', '/readyz fails while a dead letter has been pending (not acknowledged by the DLQ topic) longer than this', '30000', 'an integer in [1000, 86400000]', positiveInt(86_400_000).pipe(z.number().min(1_000))),
  brokerSilenceMs: setting('--broker-silence-ms', 'REBALANCER_BROKER_SILENCE_MS', '/readyz fails when the Kafka cluster has answered no fetch and no heartbeat for this long', '10000', 'an integer in [1000, 600000]', positiveInt(600_000).pipe(z.number().min(1_000))),

  metricsTopCategories: setting('--metrics-top-categories', 'REBALANCER_METRICS_TOP_CATEGORIES', 'categories exported by name in metrics; the rest are folded into "other"', '20', 'an integer in [1, 1000]', positiveInt(1000)),
  dedupHorizon: setting('--dedup-horizon', 'REBALANCER_DEDUP_HORIZON', 'most eventIds remembered per input partition to drop producer-side duplicates (a memory bound; --dedup-horizon-ms is the span)', '200000', 'an integer in [1, 10000000]', positiveInt(10_000_000)),
  dedupHorizonMs: setting('--dedup-horizon-ms', 'REBALANCER_DEDUP_HORIZON_MS', 'event-time span over which a repeated eventId is dropped as a producer-side duplicate (counting itself is exact by offset, whatever this is)', '600000', 'an integer in [1000, 604800000]', positiveInt(604_800_000).pipe(z.number().min(1_000))),
  instanceId: setting('--instance-id', 'REBALANCER_INSTANCE_ID', 'this instance\'s name in the changelog and global counts topics (default: host name and process id)', '', 'a string of [A-Za-z0-9._-], at most 200 chars, or empty', z.string().regex(/^[A-Za-z0-9._-]{0,200}$/)),
  changelogTopic: setting('--changelog-topic', 'REBALANCER_CHANGELOG_TOPIC', 'compacted topic holding each input partition\'s state (default: <group-id>-<topic>-changelog)', '', 'a Kafka topic name ([A-Za-z0-9._-], 1-249 chars) or empty', z.string().regex(/^[A-Za-z0-9._-]{0,249}$/)),
  countsTopic: setting('--counts-topic', 'REBALANCER_COUNTS_TOPIC', 'compacted topic where each owner publishes its partitions\' window counts, merged by every instance into the global window (default: <group-id>-<topic>-counts)', '', 'a Kafka topic name ([A-Za-z0-9._-], 1-249 chars) or empty', z.string().regex(/^[A-Za-z0-9._-]{0,249}$/)),
  modelSync: setting('--model-sync', 'REBALANCER_MODEL_SYNC', 'how model replicas of the instances in one group stay close: delta (each adds the others\' changes; measured best), average (sample-weighted mean of changed rows and dense weights) or off; needs the trainer thread, and publishes only while another instance is heard of', 'delta', 'one of delta, average, off', z.enum(['delta', 'average', 'off'])),
  modelSyncIntervalMs: setting('--model-sync-interval-ms', 'REBALANCER_MODEL_SYNC_INTERVAL_MS', 'how often this replica\'s changed embedding rows, dense weights and counted positives are published (keep it below a training step\'s period)', '250', 'an integer in [10, 600000]', positiveInt(600_000).pipe(z.number().min(10))),
  modelSyncTopic: setting('--model-sync-topic', 'REBALANCER_MODEL_SYNC_TOPIC', 'topic the model updates go through (default: <group-id>-<topic>-model)', '', 'a Kafka topic name ([A-Za-z0-9._-], 1-249 chars) or empty', z.string().regex(/^[A-Za-z0-9._-]{0,249}$/)),
  countsPublishMs: setting('--counts-publish-ms', 'REBALANCER_COUNTS_PUBLISH_MS', 'how often owned partitions\' changed window counts are published to the counts topic', '1000', 'an integer in [100, 600000]', positiveInt(600_000).pipe(z.number().min(100))),
  fetchMaxBytes: setting('--fetch-max-bytes', 'REBALANCER_FETCH_MAX_BYTES', 'bytes per Kafka fetch response (a quarter per partition); kafkajs decodes a response in one go on the thread that serves /recommendations: 1 MB keeps that under about 30 ms (request p99 while training 85 ms against 163 ms at 8 MB), 8 MB ingests about 1.4x faster', '1048576', 'an integer in [65536, 67108864]', positiveInt(67_108_864).pipe(z.number().min(65_536))),
  maxInFlight: setting('--max-in-flight', 'REBALANCER_MAX_IN_FLIGHT', 'events consumed but not yet processed before the consumer pauses', '20000', 'an integer in [1, 10000000]', positiveInt(10_000_000)),
  maxInFlightBytes: setting('--max-in-flight-bytes', 'REBALANCER_MAX_IN_FLIGHT_BYTES', 'payload bytes consumed but not yet processed before the consumer pauses', '16777216', 'an integer in [1024, 4294967296]', positiveInt(2 ** 32).pipe(z.number().min(1024))),

  recK: setting('--rec-k', 'REBALANCER_REC_K', 'items per recommendation (HTTP default and output topic)', '10', 'an integer in [1, 1000]', positiveInt(1000)),
  recTriggerTypes: setting('--rec-trigger-types', 'REBALANCER_REC_TRIGGER_TYPES', 'event types that trigger a recommendation to the output topic (empty = none)', 'purchase,click', 'a comma-separated list of view, click, add_to_cart, purchase', eventTypeList),
  recMinIntervalMs: setting('--rec-min-interval-ms', 'REBALANCER_REC_MIN_INTERVAL_MS', 'per-user rate limit of event-triggered recommendations', '60000', 'an integer >= 0', nonNegativeInt()),
  recMaxPerSecond: setting('--rec-max-per-second', 'REBALANCER_REC_MAX_PER_SECOND', 'global cap of event-triggered recommendations per second', '200', 'an integer in [0, 1000000]', nonNegativeInt(1_000_000)),
  recCandidatesPerCategory: setting('--rec-candidates-per-category', 'REBALANCER_REC_CANDIDATES_PER_CATEGORY', 'candidate items taken from each category reservoir', '50', 'an integer in [1, 100000]', positiveInt(100_000)),
  recHeadItems: setting('--rec-head-items', 'REBALANCER_REC_HEAD_ITEMS', 'most frequent items always in the candidate set', '200', 'an integer in [0, 100000]', nonNegativeInt(100_000)),

  seed: setting('--seed', 'REBALANCER_SEED', 'seed of every random choice (sampling, model init, synthetic stream)', '42', 'an integer in [0, 4294967295]', nonNegativeInt(4_294_967_295)),
  shutdownTimeoutMs: setting('--shutdown-timeout-ms', 'REBALANCER_SHUTDOWN_TIMEOUT_MS', 'graceful shutdown budget; past it the process exits non-zero', '20000', 'an integer in [100, 600000]', positiveInt(600_000).pipe(z.number().min(100))),
  logLevel: setting('--log-level', 'REBALANCER_LOG_LEVEL', 'log verbosity on stderr', 'info', 'one of error, warn, info, debug', z.enum(['error', 'warn', 'info', 'debug'])),
  statusIntervalMs: setting('--status-interval-ms', 'REBALANCER_STATUS_INTERVAL_MS', 'live status when stderr is not a terminal: the longest time between two status lines (one JSON object each); a line also comes when readiness flips or dead letters start arriving, never two within a second. On a terminal the live panel redraws every second instead. 0 = no live status at all (neither lines nor panel)', '30000', '0, or an integer in [1000, 86400000]', nonNegativeInt(86_400_000).pipe(z.number().refine((ms) => ms === 0 || ms >= 1_000))),
} as const;

export type SettingKey = keyof typeof SETTINGS;
type Parsed<S> = S extends SettingSpec<infer T> ? T : never;

/** The validated configuration of the service: one field per setting. */
export type ServiceConfig = { -readonly [K in SettingKey]: Parsed<(typeof SETTINGS)[K]> };

/** `--batch-size` → `batchSize`, the key commander gives parsed options. */
export function flagToOptionKey(flag: string): string {
  return flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The settings every Kafka client the product makes takes (SASL and TLS): src/adapters/kafka/security.ts turns them into kafkajs fields. */
export const KAFKA_SECURITY_KEYS = ['kafkaSaslMechanism', 'kafkaSaslUsername', 'kafkaSaslPassword', 'kafkaSsl', 'kafkaSslCa', 'kafkaSslCert', 'kafkaSslKey', 'kafkaSslRejectUnauthorized'] as const satisfies readonly SettingKey[];

export type KafkaSecuritySettings = Pick<ServiceConfig, (typeof KAFKA_SECURITY_KEYS)[number]>;
