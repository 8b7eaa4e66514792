/**
 * Start-up steps 4 and 5: the dead-letter sink, the Kafka source, the checkpointer and the
 * pipeline between them, wired and running (the source joins the group later, at "go").
 */
import type { Kafka, Producer } from 'kafkajs';
import { createEventCodec } from '../codec/index.js';
import type { ServiceConfig } from '../config/index.js';
import type { SchemaRegistryClient } from '../adapters/kafka/schema-registry.js';
import { TrainBacklog } from '../ingest/backlog.js';
import { DeadLetterSink } from '../ingest/dlq.js';
import { SchemaIdGate } from '../ingest/schema-ids.js';
import type { KafkaSource } from '../ingest/source.js';
import type { ServiceMetrics } from '../metrics/index.js';
import type { Serving } from '../serve/index.js';
import type { Checkpointer } from '../state/checkpointer.js';
import { createCheckpointer } from './checkpointing.js';
import { createEventTime, createSource } from './consumer.js';
import { Lifecycle } from './lifecycle.js';
import type { RestoredState } from './restore.js';
import { runPipeline, type ServiceTestHooks } from './run-pipeline.js';
import type { ScaleOut } from './scale-out.js';

export interface IngestDeps {
  kafka: Kafka;
  producer: Producer;
  /** Absent: no schema registry (--schema-registry unset). */
  schemaRegistry: SchemaRegistryClient | undefined;
  restored: RestoredState;
  scaleOut: ScaleOut;
  serving: Serving;
  metrics: ServiceMetrics;
  log(msg: string): void;
  now(): number;
}

export interface Ingest {
  lifecycle: Lifecycle;
  deadLetters: DeadLetterSink;
  source: KafkaSource;
  checkpointer: Checkpointer;
  schemaIds: SchemaIdGate;
  /** Resolves when the pipeline has completed (or failed). */
  pipelineDone: Promise<void>;
}

export function wireIngest(config: ServiceConfig, d: IngestDeps, testHooks: ServiceTestHooks | undefined): Ingest {
  const { restored, metrics, log, now } = d;
  const { balance, model } = restored;
  const lifecycle = new Lifecycle();
  const deadLetters = new DeadLetterSink({ producer: d.producer, topic: config.dlqTopic, log, metrics, now, timeoutMs: config.produceTimeoutMs });
  const eventTime = createEventTime(config, balance, restored.held);
  const source = createSource(config, {
    kafka: d.kafka,
    ledger: restored.ledger,
    scaleOut: d.scaleOut,
    eventTime,
    metrics,
    lifecycle,
    onRebalancing: () => {
      if (!lifecycle.stopping) void checkpointer.checkpoint().catch((err: unknown) => log(`checkpoint at rebalance failed: ${(err as Error).message}`));
    },
    log,
    now,
  });
  const backlog = new TrainBacklog();
  const { store, dedup, ledger } = restored;
  const checkpointer = createCheckpointer(config, { store, balance, dedup, ledger, backlog, eventTime, model, scaleOut: d.scaleOut, source, deadLetters, metrics, log, now });
  const manifest = restored.checkpoint?.manifest;
  if (manifest) checkpointer.restored(manifest.seq, manifest.createdAt, manifest.meta.positions);

  const codec = createEventCodec();
  const schemaIds = new SchemaIdGate({ codec, registry: d.schemaRegistry, metrics, log, now });
  const pipelineDone = runPipeline(
    config,
    { codec, schemaIds, source, dedup, scaleOut: d.scaleOut, balance, model, deadLetters, ledger, backlog, restoredBacklog: restored.backlog, eventTime, serving: d.serving, metrics, lifecycle, log, now },
    testHooks,
  );
  return { lifecycle, deadLetters, source, checkpointer, schemaIds, pipelineDone };
}
