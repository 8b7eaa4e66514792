/**
 * One seed of the model-sync measurement (bench/sync.ts) on a thread of its own: seeds run in
 * parallel, each with its own TensorFlow backend (tfjs-node loads per thread).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { z } from 'zod';
import { runSyncSim, syncPlanSchema } from '../../src/offline/sync-sim.js';

const port = parentPort!;
const { seed, events, plans } = z.object({ seed: z.number().int().min(0), events: z.number().int().min(1), plans: z.array(syncPlanSchema) }).parse(workerData);
port.postMessage(runSyncSim({ seed, events, plans }));
