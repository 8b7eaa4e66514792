/**
 * The live view of `rebalancer run`, driven by the run's one-second tick.
 *
 * On a terminal: a panel of five or six lines (throughput and lag; category shares and
 * class weights; the replay mix; macro vs micro hit-rate; dead letters, late and dropped
 * events; readiness) redrawn in place, each line cut to the terminal's width − 1, cleared
 * when the run ends so the summary prints below clean output. Whatever else is written to
 * the same stream meanwhile (service and Kafka client logs) is printed above the panel.
 *
 * Not on a terminal (Docker, systemd, a pipe): one JSON object per line, at most one every
 * `--status-interval-ms`, and sooner when readiness flips or dead letters start arriving,
 * never two within a second.
 *
 * The pieces are pure where they can be: `renderPanel` (a frame → lines for a width),
 * `statusRecord` (a frame → the logged object) and `StatusSchedule` (when to log, on an
 * injected clock). `LiveView` only wires them to a service and a stream.
 */
import type { ServiceHandle, ServiceState } from '../service/index.js';

/** The part of the service the view reads: its /state document (a ServiceHandle is one). */
export type LiveSource = Pick<ServiceHandle, 'state'>;

/** Everything one frame shows. */
export interface LiveFrame {
  state: ServiceState;
  /** Applied events per second over the period the frame covers. */
  eventsPerSecond: number;
}

/** The stream the view writes to: process.stderr, or a fake in tests. */
export interface LiveOutput {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(chunk: string | Uint8Array, encodingOrCallback?: BufferEncoding | ((err?: Error | null) => void), callback?: (err?: Error | null) => void): boolean;
  on(event: 'resize', listener: () => void): unknown;
  off(event: 'resize', listener: () => void): unknown;
}

export interface LiveViewOptions {
  service: LiveSource;
  out: LiveOutput;
  /** `--status-interval-ms`: longest time between two status lines off a terminal; 0 = no live output at all. */
  statusIntervalMs: number;
  now?: () => number;
}

/** Why a status line was written. */
export type StatusReason = 'start' | 'interval' | 'ready' | 'not_ready' | 'dead_letters';

/** One status line off a terminal (JSON). Field names follow /state where they mean the same. */
export interface StatusRecord {
  ts: string;
  level: 'info' | 'warn';
  msg: 'status';
  why: StatusReason;
  ready: boolean;
  notReady: string[];
  eventsPerSecond: number;
  applied: number;
  lag: number;
  inFlight: number;
  paused: boolean;
  windowEvents: number;
  categories: number;
  imbalanceRatio: number | null;
  /** The largest categories of the window: share π_c and class weight. */
  top: Array<{ category: string; share: number; weight: number | null }>;
  /** Training samples composed since start, by source: the replay mix. */
  trainingSamples: { fresh: number; replay: number; synthetic: number };
  reservoirFill: { perCategory: number; cbrs: number };
  hitRateMacro: number;
  hitRateMicro: number;
  tau: number;
  /** Share of recommendations in tail categories, and of the window's interactions. */
  tailShare: { recommendations: number; interactions: number };
  deadLettered: number;
  /** Dead letters since the previous status line. */
  deadLetteredNew: number;
  /** Dead letters not yet acknowledged by the DLQ topic, and those it refused even truncated. */
  deadLettersPending: number;
  deadLettersDropped: number;
  late: number;
  invalid: number;
  duplicates: number;
  lost: number;
  modelSteps: number;
  checkpointSeq: number;
}

/** The least time between two status lines, whatever changes (ms). */
const MIN_STATUS_GAP_MS = 1_000;
/** Categories named in a status line. */
const TOP_IN_RECORD = 5;
/** Width assumed when the terminal does not say. */
const DEFAULT_COLUMNS = 80;
const ESC = '\x1b[';

// ------------------------------------------------------------------ text width

/**
 * Columns a code point takes on a terminal: 0 for combining marks and zero-width
 * characters, 2 for East Asian wide and fullwidth characters and emoji, else 1; after
 * Markus Kuhn's wcwidth (https://www.cl.cam.ac.uk/~mgk25/ucs/wcwidth.c), main ranges only.
 */
function charWidth(cp: number): number {
  if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0xfe00 && cp <= 0xfe0f)) return 0;
  if (
    (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0x303e) || (cp >= 0x3041 && cp <= 0x33ff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0xa000 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) || (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) || (cp >= 0x20000 && cp <= 0x3fffd)
  ) return 2;
  return 1;
}

/** Columns a string takes on a terminal (after `printable`). */
function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) w += charWidth(ch.codePointAt(0)!);
  return w;
}

/** Control characters (C0, DEL, C1) shown as '?': a category id must not move the cursor. */
function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

/** `s` cut to at most `width` columns, ending in '…' when cut. */
function truncate(s: string, width: number): string {
  if (displayWidth(s) <= width) return s;
  if (width <= 0) return '';
  let out = '';
  let w = 0;
  for (const ch of s) {
    const cw = charWidth(ch.codePointAt(0)!);
    if (w + cw > width - 1) break;
    out += ch;
    w += cw;
  }
  return `${out}…`;
}

/** Segments joined by ' | ', as many (in order) as fit in `width`; the first is cut if it alone does not. */
function fitSegments(segments: readonly string[], width: number, sep = ' | '): string {
  let line = '';
  for (const seg of segments) {
    if (seg.length === 0) continue;
    const next = line.length === 0 ? seg : `${line}${sep}${seg}`;
    if (displayWidth(next) > width) break;
    line = next;
  }
  return line.length === 0 && segments.length > 0 ? truncate(segments[0]!, width) : line;
}

// ------------------------------------------------------------------ numbers

/** A count, short: exact below 10,000, then 12.3k, 1.23M, 1.23G. */
function count(n: number): string {
  if (!Number.isFinite(n)) return '-';
  const a = Math.abs(n);
  if (a < 10_000) return String(Math.round(n));
  if (a < 1e6) return `${(n / 1e3).toFixed(1)}k`;
  if (a < 1e9) return `${(n / 1e6).toFixed(2)}M`;
  return `${(n / 1e9).toFixed(2)}G`;
}

function percent(x: number, digits = 1): string {
  return Number.isFinite(x) ? `${(100 * x).toFixed(digits)}%` : '-';
}

function fixed(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '-';
}

function round(x: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function totalLag(s: ServiceState): number {
  let lag = 0;
  for (const l of Object.values(s.consumer.lag)) lag += l;
  return lag;
}

/** The window's categories, largest share first. */
function byShare(s: ServiceState): Array<[string, number]> {
  return Object.entries(s.window.shares).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

/** Under `--weight-policy none` every weight is 1 (up to smoothing rounding): shown as "off". */
function weightsOff(s: ServiceState): boolean {
  return Object.values(s.weights).every((w) => Math.abs(w - 1) < 1e-6);
}

// ------------------------------------------------------------------ the panel

/**
 * The panel for a terminal `columns` wide: 5 lines, a 6th with the reasons while the
 * service is not ready. Every line is at most `columns − 1` columns (the last column is
 * left free: writing into it makes some terminals wrap), holds no control character, and
 * drops its least important parts first when the terminal is narrow.
 */
export function renderPanel(frame: LiveFrame, columns: number): string[] {
  const width = Math.max(0, Math.floor(Number.isFinite(columns) ? columns : DEFAULT_COLUMNS) - 1);
  const s = frame.state;
  const lines = [
    fitSegments([
      s.readiness.ready ? 'ready' : 'NOT READY',
      s.consumer.paused ? 'PAUSED (backpressure)' : '',
      `${count(frame.eventsPerSecond)} events/s`,
      `applied ${count(s.totals.applied)}`,
      `lag ${count(totalLag(s))}`,
      `in flight ${count(s.consumer.inFlight)}`,
      `checkpoint #${s.checkpoint.seq} ${fixed(s.checkpoint.ageSeconds, 0)}s ago`,
    ], width),
    categoriesLine(s, width),
    fitSegments([
      replayMix(s),
      `reservoirs ${percent(s.reservoirFill.perCategory, 0)} full`,
      `replay memory ${percent(s.reservoirFill.cbrs, 0)} full`,
    ], width),
    fitSegments([
      `hit@10 macro ${fixed(s.evaluation.hitRateMacro, 3)} micro ${fixed(s.evaluation.hitRateMicro, 3)}`,
      `tail recs ${percent(s.tailShare.recommendations)} vs interactions ${percent(s.tailShare.interactions)}`,
      `serving τ ${fixed(s.evaluation.adjustment.tau, 2)}: macro +${percent(s.evaluation.adjustment.macroGain)}, micro -${percent(s.evaluation.adjustment.microCost)}`,
      `NDCG macro ${fixed(s.evaluation.ndcgMacro, 3)} micro ${fixed(s.evaluation.ndcgMicro, 3)}`,
      `model ${printable(s.model.version)}, ${count(s.model.steps)} steps`,
    ], width),
    fitSegments([
      `dlq ${count(s.totals.deadLettered)}${s.deadLetters.pending > 0 ? ` (${count(s.deadLetters.pending)} pending)` : ''}`,
      `late ${count(s.totals.late)}`,
      `dropped: duplicates ${count(s.totals.duplicates)}, lost ${count(s.totals.lost)}${s.deadLetters.dropped > 0 ? `, dead letters ${count(s.deadLetters.dropped)}` : ''}`,
      `invalid ${count(s.totals.invalid)}`,
      `recommendations ${count(s.totals.recommendationsProduced)}`,
    ], width),
  ];
  if (!s.readiness.ready) lines.push(truncate(printable(`not ready: ${s.readiness.reasons.join('; ') || 'no reason given'}`), width));
  return lines;
}

/**
 * `IR 93.5 | weights off | cat-000 47.0%, cat-001 16.4% w=0.42, …, +12 more`: the imbalance
 * ratio, then the window's largest categories with their shares (and class weights when a
 * weight policy is on), as many as fit; "weights off" goes first when the room is short.
 */
function categoriesLine(s: ServiceState, width: number): string {
  const off = weightsOff(s);
  const ir = `IR ${fixed(s.imbalance.ratio, 1)}`;
  const cats = byShare(s);
  if (cats.length === 0) return fitSegments([ir, off ? 'weights off' : '', 'no events in the window'], width);
  // Long ids are cut so that several categories fit.
  const nameWidth = Math.max(8, Math.min(24, Math.floor(width / 4)));
  const items = (head: string): { line: string; shown: number } => {
    let line = `${head} |`;
    let shown = 0;
    for (const [cat, share] of cats) {
      const w = s.weights[cat];
      const item = `${truncate(printable(cat), nameWidth)} ${percent(share)}${off || w === undefined ? '' : ` w=${w.toFixed(2)}`}`;
      const next = `${line} ${item}${shown < cats.length - 1 ? ',' : ''}`;
      // Room for the item and, unless it is the last, for the " +N more" after it.
      const rest = cats.length - shown - 1;
      if (displayWidth(rest > 0 ? `${next} +${rest} more` : next) > width) break;
      line = next;
      shown++;
    }
    if (shown < cats.length) line += ` +${cats.length - shown} more`;
    return { line, shown };
  };
  const full = items(off ? `${ir} | weights off` : ir);
  const best = off && full.shown === 0 ? items(ir) : full;
  return displayWidth(best.line) <= width ? best.line : truncate(ir, width);
}

/** `batch mix: fresh 72%, replay 28%` (synthetic when there is any): training samples by source since start. */
function replayMix(s: ServiceState): string {
  if (!s.model.training) return 'training off';
  const m = s.trainingSamples;
  const total = m.fresh + m.replay + m.synthetic;
  if (total === 0) return 'batch mix: no batch yet';
  return `batch mix: fresh ${percent(m.fresh / total, 0)}, replay ${percent(m.replay / total, 0)}${m.synthetic > 0 ? `, synthetic ${percent(m.synthetic / total, 0)}` : ''}`;
}

// ------------------------------------------------------------------ status lines

/** The object of one status line; `at` is the clock's time, `deadLetteredNew` counts since the previous line. */
export function statusRecord(frame: LiveFrame, why: StatusReason, at: number, deadLetteredNew: number): StatusRecord {
  const s = frame.state;
  return {
    ts: new Date(at).toISOString(),
    level: s.readiness.ready ? 'info' : 'warn',
    msg: 'status',
    why,
    ready: s.readiness.ready,
    notReady: s.readiness.reasons,
    eventsPerSecond: round(frame.eventsPerSecond, 1),
    applied: s.totals.applied,
    lag: totalLag(s),
    inFlight: s.consumer.inFlight,
    paused: s.consumer.paused,
    windowEvents: s.window.events,
    categories: s.window.categories,
    imbalanceRatio: Number.isFinite(s.imbalance.ratio) ? round(s.imbalance.ratio, 2) : null,
    top: byShare(s).slice(0, TOP_IN_RECORD).map(([category, share]) => ({ category, share: round(share), weight: s.weights[category] === undefined ? null : round(s.weights[category]) })),
    trainingSamples: { ...s.trainingSamples },
    reservoirFill: { perCategory: round(s.reservoirFill.perCategory), cbrs: round(s.reservoirFill.cbrs) },
    hitRateMacro: round(s.evaluation.hitRateMacro),
    hitRateMicro: round(s.evaluation.hitRateMicro),
    tau: round(s.evaluation.adjustment.tau),
    tailShare: { recommendations: round(s.tailShare.recommendations), interactions: round(s.tailShare.interactions) },
    deadLettered: s.totals.deadLettered,
    deadLetteredNew,
    deadLettersPending: s.deadLetters.pending,
    deadLettersDropped: s.deadLetters.dropped,
    late: s.totals.late,
    invalid: s.totals.invalid,
    duplicates: s.totals.duplicates,
    lost: s.totals.lost,
    modelSteps: s.model.steps,
    checkpointSeq: s.checkpoint.seq,
  };
}

/**
 * When to write a status line off a terminal. Asked once per tick with the clock's time,
 * it answers a reason or null, and counts a non-null answer as a line written:
 * - the first call: `start`;
 * - readiness differs from the last line's: `ready` / `not_ready`;
 * - dead letters arrived and the last line had none new: `dead_letters` (the onset of a
 *   burst, not each dead letter: a steady trickle of corrupt payloads gives one line, the
 *   count keeps going up in the periodic ones);
 * - `intervalMs` since the last line: `interval`;
 * never two lines within MIN_STATUS_GAP_MS (a change within it is reported by the first
 * tick after it). So over a period T there are at most ⌈T / intervalMs⌉ lines plus one per
 * readiness flip and per dead-letter onset. intervalMs 0: never.
 */
export class StatusSchedule {
  private lastAt: number | undefined;
  private lastReady = false;
  private lastDeadLettered = 0;
  private lastHadNewDeadLetters = false;

  constructor(private readonly intervalMs: number, private readonly minGapMs = MIN_STATUS_GAP_MS) {}

  /** Dead letters since the last line (as the next line will report them). */
  deadLetteredSinceLast(deadLettered: number): number {
    return this.lastAt === undefined ? 0 : Math.max(0, deadLettered - this.lastDeadLettered);
  }

  next(now: number, ready: boolean, deadLettered: number): StatusReason | null {
    if (this.intervalMs <= 0) return null;
    let why: StatusReason | null = null;
    if (this.lastAt === undefined) why = 'start';
    else if (now - this.lastAt < this.minGapMs) return null;
    else if (ready !== this.lastReady) why = ready ? 'ready' : 'not_ready';
    else if (deadLettered > this.lastDeadLettered && !this.lastHadNewDeadLetters) why = 'dead_letters';
    else if (now - this.lastAt >= this.intervalMs) why = 'interval';
    if (why === null) return null;
    this.lastHadNewDeadLetters = this.lastAt !== undefined && deadLettered > this.lastDeadLettered;
    this.lastAt = now;
    this.lastReady = ready;
    this.lastDeadLettered = deadLettered;
    return why;
  }
}

// ------------------------------------------------------------------ the view

type WriteArgs = Parameters<LiveOutput['write']>;

/**
 * The live view on one output stream. `tick()` once a second (it returns the state it
 * read, for the caller's own checks); `end()` once when the run stops.
 */
export class LiveView {
  private readonly now: () => number;
  private readonly mode: 'panel' | 'lines' | 'off';
  private readonly schedule: StatusSchedule;
  private readonly rawWrite: (chunk: string) => void;
  private lastTickAt: number;
  private lastTickApplied: number | undefined;
  private lastLineAt: number;
  private lastLineApplied: number | undefined;
  // Panel mode: what is on the screen right above the cursor.
  private drawn: string[] = [];
  /** The last panel painted (shown again after another write). */
  private painted: string[] = [];
  private drawnColumns = DEFAULT_COLUMNS;
  private lastFrame: LiveFrame | undefined;
  private atLineStart = true;
  private restoreWrite: (() => void) | undefined;
  private readonly onResize = (): void => this.redrawAfterResize();
  private ended = false;

  constructor(private readonly opts: LiveViewOptions) {
    this.now = opts.now ?? Date.now;
    this.mode = opts.statusIntervalMs <= 0 ? 'off' : opts.out.isTTY === true ? 'panel' : 'lines';
    this.schedule = new StatusSchedule(opts.statusIntervalMs);
    const out = opts.out;
    const original = out.write;
    this.rawWrite = (chunk) => { original.call(out, chunk); };
    this.lastTickAt = this.now();
    this.lastLineAt = this.lastTickAt;
    if (this.mode === 'panel') {
      out.on('resize', this.onResize);
      this.interceptWrites(original);
    }
  }

  tick(): ServiceState {
    const state = this.opts.service.state();
    if (this.mode === 'off' || this.ended) return state;
    const now = this.now();
    const applied = state.totals.applied;
    if (this.mode === 'panel') {
      const rate = this.lastTickApplied === undefined ? 0 : ((applied - this.lastTickApplied) * 1000) / Math.max(1, now - this.lastTickAt);
      this.lastTickApplied = applied;
      this.lastTickAt = now;
      this.lastFrame = { state, eventsPerSecond: rate };
      this.paint(renderPanel(this.lastFrame, this.columns()));
      return state;
    }
    const newDeadLetters = this.schedule.deadLetteredSinceLast(state.totals.deadLettered);
    const why = this.schedule.next(now, state.readiness.ready, state.totals.deadLettered);
    if (why !== null) {
      // The rate over the period the line covers (since the previous line).
      const rate = this.lastLineApplied === undefined ? 0 : ((applied - this.lastLineApplied) * 1000) / Math.max(1, now - this.lastLineAt);
      this.lastLineApplied = applied;
      this.lastLineAt = now;
      const record = statusRecord({ state, eventsPerSecond: rate }, why, now, newDeadLetters);
      this.rawWrite(`${JSON.stringify(record)}\n`);
    }
    return state;
  }

  /** Clears the panel (the summary follows on clean lines) and gives the stream back. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.mode !== 'panel') return;
    this.opts.out.off('resize', this.onResize);
    this.restoreWrite?.();
    this.hide(this.drawn.length);
  }

  private columns(): number {
    const c = this.opts.out.columns;
    return typeof c === 'number' && c > 0 ? c : DEFAULT_COLUMNS;
  }

  /**
   * Redraws in place: up over the previous panel, each line cleared and rewritten, then
   * everything below cleared (a shorter panel leaves nothing behind).
   */
  private paint(lines: string[], rowsUp = this.drawn.length): void {
    let s = this.atLineStart ? '' : '\n';
    if (this.atLineStart && rowsUp > 0) s += `${ESC}${rowsUp}A`;
    for (const line of lines) s += `\r${ESC}2K${line}\n`;
    s += `${ESC}J`;
    this.rawWrite(s);
    this.drawn = lines;
    this.painted = lines;
    this.drawnColumns = this.columns();
    this.atLineStart = true;
  }

  /** Up over the panel and clear to the end of the screen: the cursor is where the panel began. */
  private hide(rowsUp: number): void {
    if (rowsUp > 0 && this.atLineStart) this.rawWrite(`${ESC}${rowsUp}A\r${ESC}J`);
    this.drawn = [];
  }

  /**
   * A narrower terminal: a terminal that re-wraps its contents on resize now shows each
   * old line on ⌈width / columns⌉ rows, so the redraw goes up that many (on one that
   * does not re-wrap this clears a few rows above the panel too, but leaves no copy).
   */
  private redrawAfterResize(): void {
    if (this.ended || this.drawn.length === 0 || this.lastFrame === undefined) return;
    const cols = this.columns();
    let rows = this.drawn.length;
    if (cols < this.drawnColumns) {
      rows = 0;
      for (const line of this.drawn) rows += Math.max(1, Math.ceil(displayWidth(line) / cols));
    }
    this.paint(renderPanel(this.lastFrame, cols), rows);
  }

  /**
   * Other writes to the stream while the panel shows (log lines of the service and the
   * Kafka client) go above it: panel cleared, the write, panel redrawn once the line is
   * complete. Undone by `end()`.
   */
  private interceptWrites(original: LiveOutput['write']): void {
    const out = this.opts.out;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const view = this;
    out.write = function write(this: unknown, ...args: WriteArgs): boolean {
      const [chunk] = args;
      if (chunk.length === 0) return original.apply(out, args);
      view.hide(view.drawn.length);
      const ok = original.apply(out, args);
      const last = typeof chunk === 'string' ? chunk.charCodeAt(chunk.length - 1) : chunk[chunk.length - 1];
      view.atLineStart = last === 0x0a;
      if (view.atLineStart && view.painted.length > 0) view.paint(view.painted, 0);
      return ok;
    };
    this.restoreWrite = () => { out.write = original; };
  }
}
