/**
 * Removes secrets, in the spellings a server or proxy may echo them in, from anything leaving
 * the process (tool results, errors, logs, ledger, audit, dry-run previews).
 *
 * How a secret is recognised:
 * - Each secret is expanded into its spellings in transit: as is, base64 (standard and URL-safe,
 *   with and without padding, and the part of it that is the same wherever the secret sits
 *   inside a longer base64 text), hex, URL-encoded once and twice, form-encoded (space as `+`)
 *   and JSON-escaped twice (a JSON string inside a JSON string).
 * - Text is compared in a canonical form: one level of `%XX` and of JSON escapes (`\uXXXX`,
 *   `\/`, `\"`, `\\`, `\n`...) is decoded, and ASCII letters are folded to lower case. So a
 *   spelling is found whichever of its characters were escaped and in whichever case the hex
 *   digits were written (`%2B`, `%2b`, `\u002B`, an md5 in upper or mixed case).
 * - A spelling is found whole, and so is any piece of it at least MIN_FRAGMENT characters long
 *   (a truncated echo, the tail of a token without its start). A secret shorter than that is
 *   found only whole.
 *
 * The scan is one pass per string with a rolling hash over the canonical text, whatever the
 * number of secrets: a position costs a few integer operations and one bit test; only a bit
 * that is set is checked exactly. Strings shorter than the shortest spelling are not scanned.
 */

/** Pieces of a secret's spelling at least this long are redacted wherever they appear. */
export const MIN_FRAGMENT = 12;
/** Secrets shorter than this are ignored (they would blank ordinary words and numbers). */
export const MIN_SECRET = 4;
/** OAuth access tokens kept in the redactor: the last few issued (older ones have expired). */
const MAX_ISSUED = 4;

const SECRET_KEYS =
  /^(authorization|x-cap-ui-auth-token|x-cap-api-oauth-token|cap-api-access-token|password|secret|token|access_?token|client_?secret)$/i;
export const REDACTED = '[REDACTED]';

/** Canonical code for a percent-encoded byte >= 0x80 (a UTF-8 piece): a private-use character. */
const BYTE = 0xf000;
const HASH_MULT = 0x01000193;
// As int32 (| 0): a multiplier above 2^31 is a heap number, and Math.imul on it is several times slower.
const MIX = 0x9e3779b1 | 0;

const hexVal = (c: number): number =>
  c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1;

const JSON_SIMPLE: Record<number, number> = {
  34: 34, // \"
  92: 92, // \\
  47: 47, // \/
  98: 8, // \b
  102: 12, // \f
  110: 10, // \n
  114: 13, // \r
  116: 9, // \t
};

/**
 * Reads one canonical character of `s` at `i`: decodes one `%XX` or JSON escape, folds ASCII
 * upper case. Writes the code to out[0] and the index after it to out[1].
 */
function readCanon(s: string, i: number, n: number, out: Int32Array): void {
  let c = s.charCodeAt(i);
  let next = i + 1;
  if (c === 37 && i + 2 < n) {
    const a = hexVal(s.charCodeAt(i + 1));
    const b = a < 0 ? -1 : hexVal(s.charCodeAt(i + 2));
    if (b >= 0) {
      c = a * 16 + b;
      if (c >= 0x80) c |= BYTE;
      next = i + 3;
    }
  } else if (c === 92 && i + 1 < n) {
    const d = s.charCodeAt(i + 1);
    if (d === 117 && i + 5 < n) {
      const a = hexVal(s.charCodeAt(i + 2));
      const b = hexVal(s.charCodeAt(i + 3));
      const e = hexVal(s.charCodeAt(i + 4));
      const f = hexVal(s.charCodeAt(i + 5));
      if ((a | b | e | f) >= 0) {
        c = (a << 12) | (b << 8) | (e << 4) | f;
        next = i + 6;
      }
    } else if (JSON_SIMPLE[d] !== undefined) {
      c = JSON_SIMPLE[d];
      next = i + 2;
    }
  }
  if (c >= 65 && c <= 90) c += 32;
  out[0] = c;
  out[1] = next;
}

/** The canonical form of a string, as a string of canonical codes. */
export function canonical(s: string): string {
  // Nothing to decode: only ASCII letters fold (native, and fast before the scan loop is compiled).
  if (!/[%\\]/.test(s)) return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
  const out = new Int32Array(2);
  let r = '';
  for (let i = 0; i < s.length; ) {
    readCanon(s, i, s.length, out);
    r += String.fromCharCode(out[0]);
    i = out[1];
  }
  return r;
}

/**
 * The base64 spellings of a secret: whole (standard and URL-safe, padded and not), and for each
 * of the three byte alignments the characters that depend only on the secret's bytes, which
 * appear in the base64 of any longer text holding it.
 */
export function base64Spellings(s: string): string[] {
  const bytes = Buffer.from(s, 'utf8');
  const std = bytes.toString('base64');
  const out = [std, std.replace(/=+$/, '')];
  for (let k = 0; k < 3; k++) {
    const enc = Buffer.concat([Buffer.alloc(k), bytes]).toString('base64');
    out.push(enc.slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + bytes.length)) / 6)));
  }
  const url = out.map((x) => x.replace(/\+/g, '-').replace(/\//g, '_'));
  return [...out, ...url, bytes.toString('base64url')];
}

/** Every spelling of a secret the redactor looks for (before canonical folding). */
export function spellings(secret: string): string[] {
  const out = new Set<string>();
  for (const x of [secret, ...base64Spellings(secret)]) {
    const url = encodeURIComponent(x);
    out.add(x);
    out.add(url);
    out.add(encodeURIComponent(url));
    out.add(new URLSearchParams({ v: x }).toString().slice(2));
    out.add(JSON.stringify(JSON.stringify(x)).slice(3, -3));
  }
  out.add(Buffer.from(secret, 'utf8').toString('hex'));
  return [...out];
}

/** Windows of one length: the exact set, and the rolling hash's B^length. */
interface Windows {
  len: number;
  set: Set<string>;
  pow: number;
  /** Mixed into the hash's bitmap slot: one bitmap for all lengths. */
  mix: number;
}

function powMod(len: number): number {
  let p = 1;
  for (let i = 0; i < len; i++) p = Math.imul(p, HASH_MULT);
  return p;
}

function hashOf(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, HASH_MULT) + s.charCodeAt(i)) | 0;
  return h;
}

/** Whether the last len codes of the ring (ending at slot p) are one of the windows. */
function isWindow(codes: Int32Array, p: number, len: number, windows: Set<string>): boolean {
  const L = codes.length;
  let text = '';
  for (let m = len - 1; m >= 0; m--) text += String.fromCharCode(codes[(p - m + L) % L]);
  return windows.has(text);
}

/** Adds the piece [from, to) to the found pieces, merged with those it overlaps or touches. */
function merge(found: number[], from: number, to: number): number[] {
  while (found.length && found[found.length - 1] >= from) {
    to = Math.max(to, found.pop()!);
    from = Math.min(from, found.pop()!);
  }
  found.push(from, to);
  return found;
}

/** The compiled needles: one scan finds every secret. */
class Index {
  readonly minLen: number;
  private readonly maxLen: number;
  private readonly windows: Windows[];
  private readonly bits: Uint32Array;
  private readonly shift: number;
  /** Scratch for find() (never re-entered: it calls nothing that redacts). */
  private readonly codes: Int32Array;
  private readonly starts: Int32Array;
  private readonly hashes: Int32Array;
  private readonly out = new Int32Array(2);

  constructor(secrets: Iterable<string>) {
    const byLen = new Map<number, Set<string>>();
    const put = (w: string) => {
      const set = byLen.get(w.length) ?? new Set<string>();
      byLen.set(w.length, set);
      set.add(w);
    };
    // Most spellings of a secret have the same canonical form (the escaped ones): windows once each.
    const forms = new Set<string>();
    for (const s of secrets) for (const sp of spellings(s)) forms.add(canonical(sp));
    for (const c of forms) {
      if (c.length < MIN_SECRET) continue;
      if (c.length <= MIN_FRAGMENT) put(c);
      else for (let i = 0; i + MIN_FRAGMENT <= c.length; i++) put(c.slice(i, i + MIN_FRAGMENT));
    }
    this.windows = [...byLen.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([len, set]) => ({ len, set, pow: powMod(len), mix: Math.imul(len, 0x27d4eb2d) }));
    const total = this.windows.reduce((n, w) => n + w.set.size, 0);
    // About 64 bits per window (few false hits), between 4 Kibit and 4 Mibit.
    let log = 12;
    while (log < 22 && 1 << log < total * 64) log++;
    this.shift = 32 - log;
    this.bits = new Uint32Array(1 << (log - 5));
    for (const w of this.windows)
      for (const x of w.set) {
        const b = Math.imul(hashOf(x) ^ w.mix, MIX) >>> this.shift;
        this.bits[b >>> 5] |= 1 << (b & 31);
      }
    this.minLen = this.windows.length ? this.windows[0].len : Number.POSITIVE_INFINITY;
    this.maxLen = this.windows.length ? this.windows[this.windows.length - 1].len : 0;
    this.codes = new Int32Array(this.maxLen);
    this.starts = new Int32Array(this.maxLen);
    this.hashes = new Int32Array(this.windows.length);
  }

  /** Start and end offsets (in s) of every secret piece found, merged; undefined when none. */
  find(s: string): number[] | undefined {
    const n = s.length;
    const L = this.maxLen;
    const ws = this.windows;
    // The longest windows (every spelling of MIN_FRAGMENT or more characters) are hashed inline;
    // a loop over the others runs only when some secret is shorter than that.
    const top = ws.length - 1;
    const { pow, mix, set } = ws[top];
    const bits = this.bits;
    const shift = this.shift;
    // The last L canonical codes and where each started in s, in rings; zero-filled, so a code
    // "leaving" a window not yet full is 0 and the hash needs no special start.
    const { codes, starts, hashes, out } = this;
    codes.fill(0);
    hashes.fill(0);
    let found: number[] | undefined;
    let h = 0;
    let k = 0;
    let p = 0;
    for (let i = 0; i < n; ) {
      let c = s.charCodeAt(i);
      let next = i + 1;
      if (c === 37 || c === 92) {
        readCanon(s, i, n, out);
        c = out[0];
        next = out[1];
      } else if (c >= 65 && c <= 90) c += 32;
      // h = h * B + c - (the code leaving the window) * B^len
      h = (Math.imul(h, HASH_MULT) + c - Math.imul(codes[p], pow)) | 0;
      codes[p] = c;
      starts[p] = i;
      k++;
      if (k >= L) {
        const b = Math.imul(h ^ mix, MIX) >>> shift;
        if ((bits[b >>> 5] & (1 << (b & 31))) !== 0 && isWindow(codes, p, L, set))
          found = merge(found ?? [], starts[(p + 1) % L], next);
      }
      for (let j = 0; j < top; j++) {
        const w = ws[j];
        const len = w.len;
        const g = (Math.imul(hashes[j], HASH_MULT) + c - Math.imul(codes[(p - len + L) % L], w.pow)) | 0;
        hashes[j] = g;
        if (k < len) continue;
        const b = Math.imul(g ^ w.mix, MIX) >>> shift;
        if ((bits[b >>> 5] & (1 << (b & 31))) !== 0 && isWindow(codes, p, len, w.set))
          found = merge(found ?? [], starts[(p - len + 1 + L) % L], next);
      }
      p = p + 1 === L ? 0 : p + 1;
      i = next;
    }
    return found;
  }
}

export class Redactor {
  private readonly secrets = new Set<string>();
  private readonly issued: string[] = [];
  /** Built on first use: a server that only answers tools/list never pays for it. */
  private built?: Index;

  constructor(secrets: Array<string | undefined>) {
    for (const s of secrets) if (s && s.length >= MIN_SECRET) this.secrets.add(s);
  }

  private get index(): Index {
    this.built ??= new Index([...this.secrets, ...this.issued]);
    return this.built;
  }

  /** Adds a secret for the life of the process. */
  add(secret: string | undefined): void {
    if (!secret || secret.length < MIN_SECRET || this.secrets.has(secret)) return;
    this.secrets.add(secret);
    this.built = undefined;
  }

  /**
   * Adds a short-lived credential (an OAuth access token): only the last few are kept, so a
   * server that refreshes tokens for months does not grow its needle set without bound.
   */
  addIssued(token: string | undefined): void {
    if (!token || token.length < MIN_SECRET || this.issued.includes(token) || this.secrets.has(token)) return;
    this.issued.push(token);
    if (this.issued.length > MAX_ISSUED) this.issued.shift();
    this.built = undefined;
  }

  /** True when the text holds a secret in any spelling. */
  finds(s: string): boolean {
    return s.length >= this.index.minLen && this.index.find(s) !== undefined;
  }

  text(s: string): string {
    // Most strings are shorter than any spelling: nothing to look for.
    const index = this.index;
    if (s.length < index.minLen) return s;
    const found = index.find(s);
    if (!found) return s;
    let out = '';
    let at = 0;
    for (let i = 0; i < found.length; i += 2) {
      out += s.slice(at, found[i]) + REDACTED;
      at = found[i + 1];
    }
    return out + s.slice(at);
  }

  /** Deep copy with secret-named keys blanked and secrets removed from every string and key. */
  value<T>(v: T): T {
    return this.walk(v) as T;
  }

  private walk(v: unknown): unknown {
    if (typeof v === 'string') return this.text(v);
    if (v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) return v.map((x) => this.walk(x));
    const o = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(o)) {
      const x = o[k];
      if (x === undefined) continue;
      out[this.text(k)] = x !== null && x !== '' && SECRET_KEYS.test(k) ? REDACTED : this.walk(x);
    }
    return out;
  }
}
