/**
 * The ingest pipeline (src/ingest/pipeline.ts) run over chunks a test makes, without a
 * broker: a fresh metrics registry, ledger and dead-letter list, and a count of what the
 * pipeline released to the source, for the test to assert on.
 */
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import type { Observable } from 'rxjs';
import { createServiceMetrics } from '../../src/metrics/index.js';
import { DedupSet } from '../../src/ingest/dedup.js';
import type { DeadLetter } from '../../src/ingest/dlq.js';
import { IngestLedger } from '../../src/ingest/ledger.js';
import { buildPipeline, type PipelineDeps } from '../../src/ingest/pipeline.js';
import { REJECT_REASONS } from '../../src/ingest/reasons.js';
import type { RecordChunk } from '../../src/ingest/source.js';

/** What a test must give the pipeline; the rest has a default it may override. */
export type TestPipelineDeps<B> = Pick<PipelineDeps<B>, 'codec' | 'balance'> & Partial<PipelineDeps<B>>;

/** What one test's pipeline run leaves behind: its metrics, ledger, dead letters and releases. */
export class PipelineProbe {
  readonly registry = new Registry();
  readonly metrics = createServiceMetrics({ registry: this.registry, collectDefault: false, rejectReasons: REJECT_REASONS });
  readonly ledger = new IngestLedger();
  /** The dead letters, in the order the pipeline added them. */
  readonly letters: DeadLetter[] = [];
  /** Sum of what the pipeline released to the source (events). */
  readonly released = { events: 0 };

  /**
   * Runs the pipeline over `chunks$` until it completes (rejects on its error). Defaults:
   * training off (no model), no future-skew check, a dedup set of 100 000 ids, a clock at 0,
   * no logging; the dead letters, ledger, metrics and releases are this probe's.
   */
  run<B>(chunks$: Observable<RecordChunk>, deps: TestPipelineDeps<B>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      buildPipeline(chunks$, {
        dedup: new DedupSet(100_000),
        model: undefined,
        deadLetters: { add: (l) => this.letters.push(l) },
        metrics: this.metrics,
        ledger: this.ledger,
        release: (count) => {
          this.released.events += count;
        },
        batchSize: 64,
        batchMaxWaitMs: 10,
        maxFutureSkewMs: 0,
        log: () => {},
        now: () => 0,
        ...deps,
      }).subscribe({ complete: resolve, error: reject });
    });
  }

  /** The value of one unlabelled series (or one `name{labels}` series) in the exposition; fails when it is not exported. */
  async metric(name: string): Promise<number> {
    const line = (await this.registry.metrics()).split('\n').find((l) => l.startsWith(`${name} `));
    assert.ok(line !== undefined, `${name} is exported`);
    return Number(line.slice(name.length + 1));
  }
}
