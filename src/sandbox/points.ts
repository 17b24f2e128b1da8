/**
 * Exact 3-decimal arithmetic for loyalty points.
 *
 * All points are held as integer thousandths ("milli-points"): 10.125 points === 10125.
 * Parsing works on the decimal text (never on float arithmetic), so "1.005" and 1.005 are
 * both exactly 1005 and 0.001 * 1000 additions never drift.
 */
import { RawNumber } from './exact-json.js';

/** Largest milli value accepted (well inside Number.MAX_SAFE_INTEGER). */
export const MAX_MILLI = 1_000_000_000_000_000; // 10^12 points

export type MilliParse = { ok: true; milli: number } | { ok: false; reason: 'invalid' | 'precision' };

const DECIMAL_RE = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** Text of a JSON scalar that may carry a number: string, number or RawNumber. */
export function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : undefined;
  if (v instanceof RawNumber) return v.raw;
  return undefined;
}

/**
 * Parse a decimal number (string, JSON number or RawNumber) into signed milli-points.
 * reason 'invalid': not a number at all (or absurdly large); 'precision': more than
 * 3 significant decimals (trailing zeros do not count: "1.1000" is 1.1).
 */
export function parseMilli(v: unknown): MilliParse {
  const text = scalarText(v);
  if (text === undefined || text === '') return { ok: false, reason: 'invalid' };
  const m = DECIMAL_RE.exec(text);
  if (!m) return { ok: false, reason: 'invalid' };
  const sign = m[1] === '-' ? -1 : 1;
  const intDigits = m[2] ?? '';
  const fracDigits = m[3] ?? '';
  if (intDigits === '' && fracDigits === '') return { ok: false, reason: 'invalid' };
  const exp = m[4] ? Number.parseInt(m[4], 10) : 0;
  if (!Number.isFinite(exp) || Math.abs(exp) > 400) return { ok: false, reason: 'invalid' };
  // digits * 10^(exp - fracDigits.length) * 1000 => shift = exp - frac + 3
  let digits = (intDigits + fracDigits).replace(/^0+/, '');
  let shift = exp - fracDigits.length + 3;
  if (digits === '') return { ok: true, milli: 0 };
  // drop trailing zeros (they never add precision)
  while (shift < 0 && digits.endsWith('0')) {
    digits = digits.slice(0, -1);
    shift += 1;
  }
  if (shift < 0) return { ok: false, reason: 'precision' };
  if (digits.length + shift > 19) return { ok: false, reason: 'invalid' };
  const milli = Number(digits + '0'.repeat(shift));
  if (!Number.isSafeInteger(milli) || milli > MAX_MILLI) return { ok: false, reason: 'invalid' };
  return { ok: true, milli: sign * milli };
}

/** Render milli-points as a plain decimal string without float noise: 10125 -> "10.125". */
export function formatMilli(milli: number): string {
  const neg = milli < 0;
  const abs = Math.abs(milli);
  const int = Math.floor(abs / 1000);
  const frac = abs % 1000;
  let s = String(int);
  if (frac !== 0) s += '.' + String(frac).padStart(3, '0').replace(/0+$/, '');
  return neg ? '-' + s : s;
}

/** Render milli-points as a JSON number (exact: n/1000 of an integer prints as its decimal). */
export function milliToNumber(milli: number): number {
  return Number(formatMilli(milli));
}
