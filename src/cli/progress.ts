/**
 * Progress for long runs: a cli-progress bar (rate, ETA) on a terminal; on a pipe or
 * in CI, one plain line to stderr every few seconds so logs stay readable.
 *
 * Rate and ETA are computed here from this run's progress (done − initial over the elapsed
 * time), not by cli-progress: its {eta_formatted} turns "no rate yet" (a paced replay's
 * first seconds, a stalled source) into "NFs" (Infinity) or "LLs" (NaN). Without a rate,
 * or past an unknown or exceeded total, the ETA reads "--".
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** Sets the done count (absolute). */
  update(done: number): void;
  /** Changes the expected total (e.g. once a topic's end offsets are known). */
  setTotal(total: number): void;
  stop(): void;
}

export interface ProgressOptions {
  label: string;
  total: number;
  /** Already done when the run starts (e.g. a resumed replay): shown, but not counted in the rate. */
  initial?: number;
  unit?: string;
  /** No output at all. */
  quiet?: boolean;
  /** Where to write (default process.stderr); a bar when it is a terminal (isTTY). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Interval of plain lines when not on a terminal. */
  plainIntervalMs?: number;
}

const NOOP: Progress = { update() {}, setTotal() {}, stop() {} };

export function createProgress(opts: ProgressOptions): Progress {
  if (opts.quiet) return NOOP;
  const stream = opts.stream ?? process.stderr;
  const unit = opts.unit ?? 'events';
  const started = Date.now();
  const initial = opts.initial ?? 0;
  let total = opts.total;
  let done = initial;
  /** Items per second in this run (0 until some time has passed and something was done). */
  const rate = (): number => {
    const s = (Date.now() - started) / 1000;
    return s > 0 && done > initial ? (done - initial) / s : 0;
  };
  /** Seconds left, or undefined when unknown (no rate yet, total unknown or exceeded). */
  const secondsLeft = (): number | undefined => {
    const r = rate();
    return r > 0 && total > 0 && total >= done ? Math.ceil((total - done) / r) : undefined;
  };
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar({
      stream,
      format: `${opts.label} [{bar}] {percentage}% | {value}/{total} ${unit} | {rate}/s | ETA {eta_text}`,
      hideCursor: true,
    }, cliProgress.Presets.shades_classic);
    const payload = (): { rate: string; eta_text: string } => ({ rate: String(Math.round(rate())), eta_text: formatEta(secondsLeft()) });
    bar.start(total, done, payload());
    return {
      update(n) {
        done = n;
        bar.update(n, payload());
      },
      setTotal(t) {
        total = t;
        bar.setTotal(t);
        bar.update(done, payload());
      },
      stop() { bar.stop(); },
    };
  }
  let last = started;
  const every = opts.plainIntervalMs ?? 5_000;
  const line = (): void => {
    const left = secondsLeft();
    stream.write(`${opts.label}: ${done}/${total} ${unit} (${Math.round(rate())}/s${left !== undefined ? `, ETA ${formatEta(left)}` : ''})\n`);
  };
  return {
    update(n) {
      done = n;
      const now = Date.now();
      if (now - last >= every) {
        last = now;
        line();
      }
    },
    setTotal(t) { total = t; },
    stop() { if (Date.now() - started >= every) line(); },
  };
}

/** Seconds as "45s", "12m05s", "3h20m"; "--" when unknown. */
export function formatEta(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3_600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3_600)}h${String(Math.floor((s % 3_600) / 60)).padStart(2, '0')}m`;
}
