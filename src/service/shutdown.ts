import type { Producer } from 'kafkajs';
import type { ServiceAnswers } from './answers.js';
import type { ServiceParts } from './parts.js';

/** What the shutdown stops, besides the service's parts. */
export interface ShutdownParts extends ServiceParts {
  answers: ServiceAnswers;
  producer: Producer;
  /** Resolves when the pipeline has completed (or failed). */
  pipelineDone: Promise<void>;
}

/**
 * The shutdown, in order: no more samples, checkpoints or fetches; the pipeline drains
 * (training included); a final checkpoint (not after a death: a restart resumes from the
 * last good one) commits the offsets; then model sync before the trainer, the scale-out
 * state (publishes the counts a last time), the consumer, HTTP, the producer. `done`
 * settles last.
 */
export async function shutdown(p: ShutdownParts): Promise<void> {
  const { lifecycle, checkpointer, source, scaleOut, log } = p;
  lifecycle.beginStopping();
  p.answers.history.stop();
  checkpointer.stopTimer();
  source.stopFetching();
  await p.pipelineDone;
  if (!lifecycle.deadError) {
    try {
      await checkpointer.checkpoint();
    } catch (err) {
      log(`final checkpoint failed: ${(err as Error).message}`);
    }
  }
  await scaleOut.stopModelSync();
  await p.model?.stop().catch((err: unknown) => log(`stopping the trainer failed: ${(err as Error).message}`));
  await scaleOut.stop();
  await source.disconnect();
  await p.serving.stop().catch((err: unknown) => log(`stopping the HTTP server failed: ${(err as Error).message}`));
  await p.producer.disconnect().catch(() => {});
  p.metrics.consumerUp.set(0);
  lifecycle.settle();
}

/** `run`, started by the first call only; every call returns its promise. */
export function once(run: () => Promise<void>): () => Promise<void> {
  let started: Promise<void> | undefined;
  return () => (started ??= run());
}
