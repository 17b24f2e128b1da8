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
    for (const n of this.needles) if (out.includes(n)) out = out.split(n).join(REDACTED);
    return out;
  }

  /** Deep copy with secret-named keys blanked and secret substrings removed from every string. */
  value<T>(v: T): T {
    return this.walk(v) as T;
  }

  private walk(v: unknown): unknown {
    if (typeof v === 'string') return this.text(v);
    if (Array.isArray(v)) return v.map((x) => this.walk(x));
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        if (x === undefined) continue;
        out[k] = SECRET_KEYS.test(k) && x != null && x !== '' ? REDACTED : this.walk(x);
      }
      return out;
    }
    return v;
  }
}
