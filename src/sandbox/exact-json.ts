/**
 * JSON parsing/serialising that keeps number tokens exact.
 *
 * JSON.parse turns 1234567890123456789 into 1234567890123456800 and 100.0 into 100.
 * parseJsonExact keeps every number token whose text would not survive a round trip as a
 * RawNumber carrying the original text; stringifyExact writes RawNumbers back as bare
 * number tokens. Number tokens that round-trip exactly stay plain numbers (fast path).
 */

export class RawNumber {
  constructor(readonly raw: string) {}
  /** Nearest double (lossy); use .raw for exact digits. */
  valueOf(): number {
    return Number(this.raw);
  }
}

const NONCE = `\u0000rawnum${Math.random().toString(36).slice(2, 10)}:`;
const NUMBER_RE = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

function reviveRaw(_key: string, value: unknown): unknown {
  if (typeof value === 'string' && value.startsWith(NONCE)) return new RawNumber(value.slice(NONCE.length));
  return value;
}

/** JSON.parse, except number tokens that would lose digits come back as RawNumber. */
export function parseJsonExact(text: string): unknown {
  let out = '';
  let last = 0;
  let changed = false;
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      // skip string
      let j = i + 1;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) {
          j = n;
          break;
        }
        let bs = 0;
        for (let k = q - 1; k > i && text.charCodeAt(k) === 92; k--) bs++;
        j = q + 1;
        if (bs % 2 === 0) break;
      }
      i = j;
      continue;
    }
    if (c === 45 /* - */ || (c >= 48 && c <= 57)) {
      NUMBER_RE.lastIndex = i;
      const m = NUMBER_RE.exec(text);
      if (!m) {
        i++;
        continue;
      }
      const tok = m[0];
      if (String(Number(tok)) !== tok) {
        out += text.slice(last, i) + JSON.stringify(NONCE + tok);
        last = i + tok.length;
        changed = true;
      }
      i += tok.length;
      continue;
    }
    i++;
  }
  if (!changed) return JSON.parse(text);
  out += text.slice(last);
  return JSON.parse(out, reviveRaw);
}

const RAW_OUT_RE = new RegExp(
  `"${JSON.stringify(NONCE).slice(1, -1).replace(/\\/g, '\\\\')}(-?[0-9.eE+]+)"`,
  'g',
);

/** JSON.stringify that writes RawNumber values as bare number tokens (exact digits). */
export function stringifyExact(value: unknown): string {
  let found = false;
  const s = JSON.stringify(value, (_k, v) => {
    if (v instanceof RawNumber) {
      found = true;
      return NONCE + v.raw;
    }
    return v;
  });
  return found ? s.replace(RAW_OUT_RE, '$1') : s;
}

/** Deep copy of plain JSON data, keeping RawNumber instances. */
export function cloneJson<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  if (v instanceof RawNumber) return v;
  if (Array.isArray(v)) return v.map(cloneJson) as unknown as T;
  const o: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) o[k] = cloneJson(x);
  return o as T;
}
