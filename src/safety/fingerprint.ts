import * as crypto from 'node:crypto';

/** Canonical JSON: keys sorted at every level, so argument order never changes the fingerprint. */
export function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out += ',';
      // As Array.prototype.join: an element with no JSON form (undefined) is empty.
      out += canonical(v[i]) ?? '';
    }
    return `${out}]`;
  }
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort();
  let out = '{';
  for (const k of keys) {
    if (o[k] === undefined) continue;
    if (out.length > 1) out += ',';
    out += `${JSON.stringify(k)}:${canonical(o[k])}`;
  }
  return `${out}}`;
}

/** One-shot SHA-256 (crypto.hash from Node 20.12; a Hash object before that). */
const sha256hex: (s: string) => string =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (s) => (crypto as unknown as { hash(alg: string, data: string): string }).hash('sha256', s)
    : (s) => crypto.createHash('sha256').update(s).digest('hex');

/** Fingerprint of one operation: the tool and every argument that changes what is sent, dry_run aside. */
export function fingerprint(tool: string, args: Record<string, unknown>): string {
  const { dry_run: _ignored, ...rest } = args;
  return sha256hex(`${tool}\n${canonical(rest)}`);
}

/** A fresh idempotency key: prefix, time and randomness, inside Capillary's 100-char limit. */
export const mintKey = (prefix: string) =>
  `${prefix}-${Date.now().toString(36)}-${crypto.randomUUID().replace(/-/g, '').slice(0, 16)}`;
