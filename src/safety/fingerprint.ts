import { createHash, randomUUID } from 'node:crypto';

/** Canonical JSON: keys sorted at every level, so argument order never changes the fingerprint. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const keys = Object.keys(v as object)
      .filter((k) => (v as any)[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((v as any)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Fingerprint of one operation: the tool and every argument that changes what is sent, dry_run aside. */
export function fingerprint(tool: string, args: Record<string, unknown>): string {
  const { dry_run: _ignored, ...rest } = args;
  return createHash('sha256')
    .update(`${tool}\n${canonical(rest)}`)
    .digest('hex');
}

/** A fresh idempotency key: prefix, time and randomness, inside Capillary's 100-char limit. */
export const mintKey = (prefix: string) =>
  `${prefix}-${Date.now().toString(36)}-${randomUUID().replace(/-/g, '').slice(0, 16)}`;
