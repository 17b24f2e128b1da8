import { randomBytes } from 'node:crypto';

/** A number written to the wire as its exact digits (ids of up to 19 digits lose precision as JS numbers). */
export class RawNumber {
  readonly digits: string;
  constructor(digits: string) {
    if (!/^-?\d+$/.test(digits)) throw new Error('RawNumber takes digits only');
    // A JSON number token has no leading zeros: "007" goes out as 7, not as the invalid [007].
    this.digits = digits.replace(/^(-?)0+(?=\d)/, '$1');
  }
}

// A per-process nonce, so no agent-supplied string can pose as a marker.
const NONCE = randomBytes(6).toString('hex');
const MARK = `\u0000raw${NONCE}:`;
const MARK_RE = new RegExp(`"\\\\u0000raw${NONCE}:(-?\\d+)"`, 'g');

/** JSON.stringify that writes RawNumber values as bare number tokens. */
export function stringifyWire(value: unknown): string {
  let raw = false;
  const text = JSON.stringify(value, (_k, v) => {
    if (v instanceof RawNumber) {
      raw = true;
      return `${MARK}${v.digits}`;
    }
    return v;
  });
  // \u0000 is escaped by JSON.stringify, so the marker can only come from a RawNumber.
  return raw ? text.replace(MARK_RE, '$1') : text;
}

/** Plain-data copy for previews and logs: RawNumber shown as its digits. */
export function toPlain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_k, v) => (v instanceof RawNumber ? v.digits : v)));
}
