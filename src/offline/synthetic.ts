/**
 * Old names of the embedded stream, kept only for test files that are being edited elsewhere
 * (test/serve/cold-start.test.ts, test/ingest/partition-watermarks-kafka.test.ts). There is one
 * generator: createGenerator (generate.ts) with EMBEDDED_STREAM. Delete this file once those
 * tests use it.
 *
 * @deprecated use `createGenerator({ ...EMBEDDED_STREAM, seed })`.
 */
import { EMBEDDED_STREAM } from './generate.js';

/** @deprecated use createGenerator. */
export { InteractionGenerator as SyntheticStream } from './generate.js';

/** @deprecated use EMBEDDED_STREAM. */
export const DEFAULT_SYNTHETIC = EMBEDDED_STREAM;
