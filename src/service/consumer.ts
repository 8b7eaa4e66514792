/**
 * Start-up step 4, the input side: the event-time alignment and the Kafka source, with what
 * the source's events (assignment, pauses, lag, lost offsets, death) do to the rest.
 */
import type { Kafka } from 'kafkajs';
import type { InteractionEvent } from '../codec/index.js';
import type { ServiceConfig } from '../config/index.js';
import { EventTimeAlignment, type HeldEvent } from '../ingest/event-time.js';
import type { IngestLedger } from '../ingest/ledger.js';
import { KafkaSource } from '../ingest/source.js';
import type { ServiceMetrics } from '../metrics/index.js';
import type { BalanceAdapter } from '../train/balance-adapter.js';
import type { Lifecycle } from './lifecycle.js';
import type { ScaleOut } from './scale-out.js';

/**
 * The window follows the slowest assigned partition; events of partitions read ahead are
 * held (at most half the in-flight bound, so the consumer can always resume).
 */
export function createEventTime(config: ServiceConfig, balance: BalanceAdapter, restored: HeldEvent<InteractionEvent>[]): EventTimeAlignment<InteractionEvent> {
  return new EventTimeAlignment<InteractionEvent>({ allowedLatenessMs: config.windowLatenessMs, idleTimeoutMs: config.partitionIdleMs, maxHeld: Math.max(1, Math.floor(config.maxInFlight / 2)), start: balance.watermark(), restored });
}

export interface SourceDeps {
  kafka: Kafka;
  ledger: IngestLedger;
  scaleOut: ScaleOut;
  eventTime: EventTimeAlignment<InteractionEvent>;
  metrics: ServiceMetrics;
  lifecycle: Lifecycle;
  /**
   * Called when the group starts rebalancing. This member still owns its partitions until it
   * rejoins: a checkpoint now writes their changelog blobs, so their next owner re-reads less.
   */
  onRebalancing(): void;
  log(msg: string): void;
  now(): number;
}

export function createSource(config: ServiceConfig, d: SourceDeps): KafkaSource {
  const { metrics, eventTime, ledger, now, log } = d;
  const ownership = d.scaleOut.ownership;
  const partitionStates = d.scaleOut.states;
  return new KafkaSource({
    kafka: d.kafka,
    topic: config.topic,
    groupId: config.groupId,
    fromBeginning: config.fromBeginning,
    sessionTimeoutMs: config.sessionTimeoutMs,
    maxInFlight: config.maxInFlight,
    maxInFlightBytes: config.maxInFlightBytes,
    fetchMaxBytes: config.fetchMaxBytes,
    startOffsets: ledger.positions,
    preparePartition: (p) => ownership.prepare(p),
    positions: {
      get: (p) => {
        const position = partitionStates.get(p)?.position;
        return position !== undefined && position >= 0 ? position : undefined;
      },
    },
    onRebalancing: () => d.onRebalancing(),
    onDead: (err) => {
      d.lifecycle.consumerDead(err);
      metrics.consumerUp.set(0);
    },
    onCrash: (err, restart) => {
      metrics.consumerCrashes.inc();
      log(`Kafka consumer crashed (${restart ? 'kafkajs restarts it' : 'no restart'}): ${err.message}`);
    },
    onPauseChange: (paused) => {
      metrics.consumerPaused.set(paused ? 1 : 0);
      // No partition can deliver while paused: that time does not make them idle.
      if (paused) eventTime.pause(now());
      else eventTime.resume(now());
    },
    onLag: (topic, partition, lag) => {
      metrics.consumerLag(topic, partition).set(lag);
      eventTime.backlog(partition, lag);
    },
    onAssigned: (partitions) => {
      ownership.assign(partitions);
      eventTime.assign(partitions, now());
    },
    onLost: (gap) => {
      ledger.lose(gap.partition, gap.expected, gap.actual);
      partitionStates.get(gap.partition)?.lose(gap.expected, gap.actual);
      metrics.eventsLost.retention.inc(gap.lost);
    },
    log,
    now,
  });
}
