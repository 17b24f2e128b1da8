/** Removes configured secrets, in every form they can take, from anything leaving the process. */
const SECRET_KEYS =
  /^(authorization|x-cap-ui-auth-token|x-cap-api-oauth-token|cap-api-access-token|password|secret|token|access_?token|client_?secret)$/i;
export const REDACTED = '[REDACTED]';

export class Redactor {
  private readonly needles: string[];
  constructor(secrets: Array<string | undefined>) {
    // Longest first so a secret that contains another is removed whole.
    this.needles = [...new Set(secrets.filter((s): s is string => !!s && s.length >= 4))].sort(
      (a, b) => b.length - a.length,
    );
  }

  add(secret: string | undefined): void {
    if (secret && secret.length >= 4 && !this.needles.includes(secret)) {
      this.needles.push(secret);
      this.needles.sort((a, b) => b.length - a.length);
    }
  }

  text(s: string): string {
    let out = s;
    // Most strings are shorter than any secret: nothing to look for.
    for (const n of this.needles)
      if (out.length >= n.length && out.includes(n)) out = out.split(n).join(REDACTED);
    return out;
  }

  /** Deep copy with secret-named keys blanked and secret substrings removed from every string. */
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
      out[k] = x !== null && x !== '' && SECRET_KEYS.test(k) ? REDACTED : this.walk(x);
    }
    return out;
  }
}
