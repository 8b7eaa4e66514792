/**
 * Parsing of command-line values into typed options. Every bad value is one
 * REB_INPUT_INVALID error naming the flag and the expected form.
 */
import { RebalancerError } from '../errors.js';

export function badFlag(flag: string, expected: string, got: unknown): never {
  throw new RebalancerError('REB_INPUT_INVALID', `--${flag} must be ${expected}, got ${JSON.stringify(got)}`, { flag });
}

export function intFlag(flag: string, raw: string | undefined, min: number, max: number): number {
  const v = raw === undefined ? NaN : Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isInteger(v) || v < min || v > max) badFlag(flag, `an integer in [${min}, ${max}]`, raw);
  return v;
}

export function numberFlag(flag: string, raw: string | undefined, min: number, max = Number.POSITIVE_INFINITY): number {
  const v = raw === undefined ? NaN : Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isFinite(v) || v < min || v > max) badFlag(flag, `a number in [${min}, ${max === Number.POSITIVE_INFINITY ? '∞' : max}]`, raw);
  return v;
}

/** A time as ms since the epoch or an ISO-8601 date. */
export function timeFlag(flag: string, raw: string): number {
  const asNumber = Number(raw);
  const v = raw.trim() !== '' && Number.isFinite(asNumber) ? asNumber : Date.parse(raw);
  if (!Number.isFinite(v)) badFlag(flag, 'ms since the epoch or an ISO-8601 time', raw);
  return v;
}

export function brokerList(flag: string, raw: string | undefined): string[] {
  const list = (raw ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (list.length === 0) badFlag(flag, 'a comma-separated list of host:port (or set REBALANCER_BROKERS)', raw ?? '');
  for (const b of list) if (!/^[^:\s]+:\d+$/.test(b)) badFlag(flag, 'a comma-separated list of host:port', raw);
  return list;
}

export function oneOf<T extends string>(flag: string, raw: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(raw)) badFlag(flag, `one of ${allowed.join(', ')}`, raw);
  return raw as T;
}
