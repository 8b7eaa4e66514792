/**
 * Progress for long runs: a cli-progress bar (rate, ETA) on a terminal; on a pipe or
 * in CI, one plain line to stderr every few seconds so logs stay readable.
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
  unit?: string;
  /** No output at all. */
  quiet?: boolean;
  stream?: NodeJS.WriteStream;
  /** Interval of plain lines when not on a terminal. */
  plainIntervalMs?: number;
}

const NOOP: Progress = { update() {}, setTotal() {}, stop() {} };

export function createProgress(opts: ProgressOptions): Progress {
  if (opts.quiet) return NOOP;
  const stream = opts.stream ?? process.stderr;
  const unit = opts.unit ?? 'events';
  const started = Date.now();
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar({
      stream,
      format: `${opts.label} [{bar}] {percentage}% | {value}/{total} ${unit} | {rate}/s | ETA {eta_formatted}`,
      hideCursor: true,
      etaBuffer: 200,
    }, cliProgress.Presets.shades_classic);
    bar.start(opts.total, 0, { rate: '0' });
    return {
      update(done) {
        const s = (Date.now() - started) / 1000;
        bar.update(done, { rate: s > 0 ? Math.round(done / s).toString() : '0' });
      },
      setTotal(total) { bar.setTotal(total); },
      stop() { bar.stop(); },
    };
  }
  let total = opts.total;
  let last = started;
  let done = 0;
  const every = opts.plainIntervalMs ?? 5_000;
  const line = (): void => {
    const s = (Date.now() - started) / 1000;
    const rate = s > 0 ? done / s : 0;
    const eta = rate > 0 && total > done ? `, ETA ${Math.ceil((total - done) / rate)} s` : '';
    stream.write(`${opts.label}: ${done}/${total} ${unit} (${Math.round(rate)}/s${eta})\n`);
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
