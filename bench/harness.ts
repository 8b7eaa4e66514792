/**
 * The benchmark contract. Each bench/<area>.ts exports `benchmarks: Benchmark[]`;
 * bench/run.ts runs them all and writes one JSON report. Every figure is compared with
 * a baseline measured in the same run (machines here are noisy), so `ratio` is the
 * number to read: value / baseline_value.
 */
export interface BenchResult {
  /** Stable name, e.g. `codec.decode`. */
  name: string;
  value: number;
  unit: string;
  baseline_name: string | null;
  baseline_value: number | null;
  ratio: number | null;
  /** Free-form context (target, sizes) for the README table. */
  notes?: string;
}

export interface BenchContext {
  /** Short version for routine checks (whole suite under 3 minutes). */
  quick: boolean;
  /** Broker list of the local Kafka started by the harness. */
  brokers: string[];
  /** The local broker's process id (for CPU accounting), undefined without Kafka. */
  brokerPid?: number;
  log(message: string): void;
}

export interface Benchmark {
  /** Group name, e.g. `codec`; `--only codec` runs just this group. */
  name: string;
  /** Needs the local Kafka broker. */
  needsKafka?: boolean;
  run(ctx: BenchContext): Promise<BenchResult[]>;
}

export function result(name: string, value: number, unit: string, baseline?: { name: string; value: number }, notes?: string): BenchResult {
  return {
    name,
    value,
    unit,
    baseline_name: baseline?.name ?? null,
    baseline_value: baseline?.value ?? null,
    ratio: baseline && baseline.value !== 0 ? value / baseline.value : null,
    ...(notes === undefined ? {} : { notes }),
  };
}

/** Runs fn repeatedly for at least minMs and returns operations per second (ops = what fn returns). */
export function opsPerSecond(fn: () => number, minMs: number): number {
  let ops = 0;
  const start = process.hrtime.bigint();
  let elapsedNs = 0n;
  const minNs = BigInt(Math.round(minMs * 1e6));
  while (elapsedNs < minNs) {
    ops += fn();
    elapsedNs = process.hrtime.bigint() - start;
  }
  return ops / (Number(elapsedNs) / 1e9);
}

export function percentile(sortedAscending: ArrayLike<number>, p: number): number {
  if (sortedAscending.length === 0) return NaN;
  const idx = Math.min(sortedAscending.length - 1, Math.max(0, Math.ceil((p / 100) * sortedAscending.length) - 1));
  return sortedAscending[idx]!;
}
