/**
 * Maps rows of a real interaction log (headered CSV or JSON lines) to InteractionEvents
 * through a column mapping. A row that cannot be mapped yields a reason, never a guess;
 * the caller reports it with its line number and counts it.
 */
import { createHash } from 'node:crypto';
import { validateEvent } from '../codec/index.js';
import { EVENT_TYPES } from '../codec/index.js';
import { makeEvent, type EventType, type InteractionEvent } from '../codec/types.js';
import { RebalancerError } from '../errors.js';

export type TimeUnit = 's' | 'ms' | 'iso';

export interface ColumnMapping {
  userCol: string;
  itemCol: string;
  categoryCol: string;
  timeCol: string;
  /** Column holding the event type; values mapped through `typeMap`. */
  typeCol: string | undefined;
  /** Alternative to typeCol: rating >= purchaseThreshold is a purchase, below it a click. */
  ratingCol: string | undefined;
  purchaseThreshold: number;
  timeUnit: TimeUnit;
  idCol: string | undefined;
  priceCol: string | undefined;
  /** Raw type value (lower-cased) → event type. */
  typeMap: ReadonlyMap<string, EventType>;
}

/** Type names accepted without a --type-map: the schema's own plus common log spellings. */
export const DEFAULT_TYPE_MAP: ReadonlyMap<string, EventType> = new Map<string, EventType>([
  ['view', 'view'], ['pv', 'view'], ['page_view', 'view'], ['impression', 'view'],
  ['click', 'click'], ['clk', 'click'],
  ['add_to_cart', 'add_to_cart'], ['cart', 'add_to_cart'], ['addtocart', 'add_to_cart'], ['add-to-cart', 'add_to_cart'],
  ['purchase', 'purchase'], ['buy', 'purchase'], ['order', 'purchase'], ['transaction', 'purchase'],
]);

const EVENT_TYPE_NAMES: readonly EventType[] = EVENT_TYPES;

/** Parses `raw=type,raw2=type2` into a map on top of the defaults. */
export function parseTypeMap(spec: string | undefined): Map<string, EventType> {
  const map = new Map(DEFAULT_TYPE_MAP);
  if (spec === undefined || spec.trim() === '') return map;
  for (const pair of spec.split(',')) {
    const eq = pair.lastIndexOf('=');
    const raw = pair.slice(0, eq).trim().toLowerCase();
    const type = pair.slice(eq + 1).trim() as EventType;
    if (eq <= 0 || raw === '' || !EVENT_TYPE_NAMES.includes(type)) {
      throw new RebalancerError('REB_INPUT_INVALID', `--type-map entry ${JSON.stringify(pair)} must be raw=type with type one of ${EVENT_TYPE_NAMES.join(', ')}`, { flag: 'type-map' });
    }
    map.set(raw, type);
  }
  return map;
}

/** A row as column name → raw value (CSV text, or JSON scalar). */
export type Row = ReadonlyMap<string, unknown>;

export type MapResult = { ok: true; event: InteractionEvent } | { ok: false; reason: string };

/**
 * Checks that the mapped columns exist in a CSV header (JSON lines are checked per row).
 */
export function checkHeader(mapping: ColumnMapping, header: readonly string[]): void {
  const have = new Set(header);
  const missing = mappedColumns(mapping).filter((c) => !have.has(c));
  if (missing.length > 0) {
    throw new RebalancerError('REB_INPUT_INVALID', `column${missing.length > 1 ? 's' : ''} ${missing.map((m) => JSON.stringify(m)).join(', ')} not in the header (have: ${header.map((h) => JSON.stringify(h)).join(', ')})`, { missing });
  }
}

export function mappedColumns(m: ColumnMapping): string[] {
  return [m.userCol, m.itemCol, m.categoryCol, m.timeCol, m.typeCol, m.ratingCol, m.idCol, m.priceCol].filter((c): c is string => c !== undefined);
}

export function mapRow(row: Row, line: number, m: ColumnMapping): MapResult {
  const text = (col: string): string | undefined => {
    const v = row.get(col);
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return v.trim();
    if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
    return undefined;
  };
  const required = (col: string, what: string): string | { reason: string } => {
    if (!row.has(col)) return { reason: `no ${what} column ${JSON.stringify(col)}` };
    const v = text(col);
    if (v === undefined) return { reason: `${what} column ${JSON.stringify(col)} is not a scalar` };
    if (v === '') return { reason: `empty ${what} (column ${JSON.stringify(col)})` };
    return v;
  };
  const userId = required(m.userCol, 'user');
  if (typeof userId !== 'string') return { ok: false, ...userId };
  const itemId = required(m.itemCol, 'item');
  if (typeof itemId !== 'string') return { ok: false, ...itemId };
  const categoryId = required(m.categoryCol, 'category');
  if (typeof categoryId !== 'string') return { ok: false, ...categoryId };
  const rawTime = required(m.timeCol, 'time');
  if (typeof rawTime !== 'string') return { ok: false, ...rawTime };
  const eventTime = parseTime(rawTime, m.timeUnit);
  if (eventTime === undefined) return { ok: false, reason: `time ${JSON.stringify(rawTime)} is not ${m.timeUnit === 'iso' ? 'an ISO-8601 time' : `a number of ${m.timeUnit === 's' ? 'seconds' : 'milliseconds'} since the epoch`}` };

  let type: EventType;
  if (m.typeCol !== undefined) {
    const raw = required(m.typeCol, 'type');
    if (typeof raw !== 'string') return { ok: false, ...raw };
    const t = m.typeMap.get(raw.toLowerCase());
    if (t === undefined) return { ok: false, reason: `unknown event type ${JSON.stringify(raw)} (map it with --type-map ${raw}=click)` };
    type = t;
  } else {
    const raw = required(m.ratingCol!, 'rating');
    if (typeof raw !== 'string') return { ok: false, ...raw };
    const rating = Number(raw);
    if (!Number.isFinite(rating)) return { ok: false, reason: `rating ${JSON.stringify(raw)} is not a number` };
    type = rating >= m.purchaseThreshold ? 'purchase' : 'click';
  }

  let price: number | null = null;
  if (m.priceCol !== undefined) {
    const raw = text(m.priceCol);
    if (raw !== undefined && raw !== '') {
      price = Number(raw);
      if (!Number.isFinite(price) || price < 0) return { ok: false, reason: `price ${JSON.stringify(raw)} is not a non-negative number` };
    }
  }

  let eventId: string;
  if (m.idCol !== undefined) {
    const id = required(m.idCol, 'id');
    if (typeof id !== 'string') return { ok: false, ...id };
    eventId = id;
  } else {
    eventId = deriveEventId(line, userId, itemId, categoryId, type, eventTime);
  }
  const event = makeEvent({ eventId, userId, itemId, categoryId, type, eventTime, price });
  const invalid = validateEvent(event);
  if (invalid !== undefined) return { ok: false, reason: invalid };
  return { ok: true, event };
}

/**
 * Id of a row without one: a hash of its mapped fields and its line number, so
 * re-importing the same file gives the same ids (duplicates downstream are dropped),
 * and two identical rows on different lines stay two events.
 */
export function deriveEventId(line: number, userId: string, itemId: string, categoryId: string, type: EventType, eventTime: number): string {
  const h = createHash('sha1').update(`${line}\u0000${userId}\u0000${itemId}\u0000${categoryId}\u0000${type}\u0000${eventTime}`).digest('hex');
  return `imp-${h.slice(0, 20)}`;
}

function parseTime(raw: string, unit: TimeUnit): number | undefined {
  if (unit === 'iso') {
    const t = Date.parse(raw);
    return Number.isFinite(t) ? t : undefined;
  }
  if (!/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(raw)) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n)) return undefined;
  return Math.round(unit === 's' ? n * 1000 : n);
}
