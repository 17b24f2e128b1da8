/**
 * What the API answers is untrusted input: it may be huge, deep or written to steer the agent.
 * bound() caps what of it reaches the agent and the ledger. Pure: a new value, nothing mutated.
 *
 * - A string longer than maxStringChars keeps its first maxStringChars characters and ends in
 *   a marker saying how many were cut (`… [cut: 899000 more characters]`).
 * - An array longer than maxArrayItems keeps its first maxArrayItems items. Each cut is named in
 *   `cut` (`promised: 19900 of 20000 items cut`), which the pipeline returns as the result's
 *   `truncated` field: an array of objects has no room for a marker that would still match the
 *   tool's output schema. Objects keep every key: a tool's reading of an answer has the fixed
 *   fields of its output schema (keys longer than maxStringChars are cut like strings).
 * - Anything nested deeper than MAX_DEPTH is replaced by a marker string.
 */
export interface Limits {
  maxStringChars: number;
  maxArrayItems: number;
}

/** Tool results are a few levels deep; an answer nested deeper than this is not data to keep. */
export const MAX_DEPTH = 16;

export interface Bounded<T> {
  value: T;
  /** One line per cut, naming where and how much; empty when nothing was cut. */
  cut: string[];
}

/** The marker ending a cut string. */
export const cutMarker = (n: number) => `… [cut: ${n} more characters]`;

export function clipString(s: string, max: number): string {
  if (s.length <= max) return s;
  // Never cut between the two halves of a surrogate pair.
  const end = isHighSurrogate(s.charCodeAt(max - 1)) ? max - 1 : max;
  return s.slice(0, end) + cutMarker(s.length - end);
}

const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff;

/** Cuts named one by one; more are counted in a last line. */
const MAX_CUT_LINES = 10;
/** A key as it appears in a cut's path. */
const KEY_IN_PATH = 64;

export function bound<T>(value: T, limits: Limits): Bounded<T> {
  const cut: string[] = [];
  let more = 0;
  const note = (path: string, what: string) => {
    if (cut.length < MAX_CUT_LINES) cut.push(`${path || '(value)'}: ${what}`);
    else more++;
  };
  const walk = (v: unknown, path: string, depth: number): unknown => {
    if (typeof v === 'string') {
      if (v.length <= limits.maxStringChars) return v;
      note(path, `${v.length - limits.maxStringChars} of ${v.length} characters cut`);
      return clipString(v, limits.maxStringChars);
    }
    if (v === null || typeof v !== 'object') return v;
    if (depth >= MAX_DEPTH) {
      note(path, `nested deeper than ${MAX_DEPTH} levels, cut`);
      return '[cut: nested too deep]';
    }
    const max = limits.maxArrayItems;
    if (Array.isArray(v)) {
      if (v.length > max) note(path, `${v.length - max} of ${v.length} items cut`);
      return (v.length > max ? v.slice(0, max) : v).map((x, i) => walk(x, `${path}[${i}]`, depth + 1));
    }
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) {
      const x = (v as Record<string, unknown>)[k];
      if (x === undefined) continue;
      const name = clipString(k, KEY_IN_PATH);
      out[clipString(k, limits.maxStringChars)] = walk(x, path ? `${path}.${name}` : name, depth + 1);
    }
    return out;
  };
  const out = walk(value, '', 0) as T;
  if (more) cut.push(`(${more} more cuts)`);
  return { value: out, cut };
}
