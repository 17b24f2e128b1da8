import { createHash } from 'node:crypto';

/**
 * The leak suite's detector, written independently of src/safety/redact.ts: it enumerates the
 * concrete spellings a server or proxy may echo (the redactor instead decodes escapes before it
 * compares), and looks for any piece of them at least WINDOW characters long, in any letter case.
 */
export const WINDOW = 12;

export const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** Every spelling of s a proxy or server may echo, by name. */
export function spellingsOf(s: string): Record<string, string> {
  const url = encodeURIComponent(s);
  const json = JSON.stringify(s).slice(1, -1);
  return {
    raw: s,
    upper: s.toUpperCase(),
    'url-encoded': url,
    'url-encoded, lower-case hex': url.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
    'form-encoded': new URLSearchParams({ v: s }).toString().slice(2),
    'url-encoded twice': encodeURIComponent(url),
    'json-escaped': json,
    'json-escaped, \\/': json.replace(/\//g, '\\/'),
    'json \\u-escaped': s.replace(
      /[^A-Za-z0-9]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    ),
    'json \\u-escaped, upper': s.replace(
      /[^A-Za-z0-9]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}`,
    ),
    'json-escaped twice': JSON.stringify(JSON.stringify(s)).slice(1, -1),
    hex: Buffer.from(s).toString('hex'),
    'hex, upper': Buffer.from(s).toString('hex').toUpperCase(),
    base64: b64(s),
    'base64, unpadded': b64(s).replace(/=+$/, ''),
    base64url: Buffer.from(s).toString('base64url'),
    'base64 at offset 1': b64(`\u0001${s}`),
    'base64 at offset 2': b64(`\u0001\u0002${s}`),
    'base64, url-encoded': encodeURIComponent(b64(s)),
    'base64, url-encoded lower': encodeURIComponent(b64(s)).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
    'base64, json \\u-escaped': b64(s).replace(/[+/=]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`),
    prefix: s.slice(0, WINDOW + 2),
    suffix: s.slice(-(WINDOW + 2)),
  };
}

/** The canary credentials of a Basic login, derived as Capillary derives them. */
export function basicCanaries(user: string, password: string): Record<string, string> {
  const h = md5(password);
  const cred = `${user}:${h}`;
  return {
    password,
    'md5(password)': h,
    'user:md5': cred,
    'Basic header': `Basic ${b64(cred)}`,
  };
}

/** A JWT-shaped canary and its dot-separated parts. */
export function jwtCanaries(jwt: string): Record<string, string> {
  const [h, p, s] = jwt.split('.');
  return {
    'UI JWT': jwt,
    'UI JWT header': h,
    'UI JWT payload': p,
    'UI JWT signature': s,
    'UI JWT body': `${p}.${s}`,
  };
}

/** Finds pieces of secrets' spellings in text. */
export class LeakScanner {
  private readonly windows = new Map<string, string>();
  private readonly found = new Set<string>();

  add(label: string, secret: string): this {
    for (const [how, text] of Object.entries(spellingsOf(secret))) {
      const t = text.toLowerCase();
      for (let i = 0; i + WINDOW <= t.length; i++) {
        const w = t.slice(i, i + WINDOW);
        if (!this.windows.has(w)) this.windows.set(w, `${label} (${how})`);
      }
    }
    return this;
  }

  addAll(secrets: Record<string, string>): this {
    for (const [label, s] of Object.entries(secrets)) this.add(label, s);
    return this;
  }

  /** The leaks in one text (also kept for findings()), each with a little context. */
  scan(where: string, text: string): string[] {
    const t = text.toLowerCase();
    const out: string[] = [];
    for (let i = 0; i + WINDOW <= t.length; i++) {
      const what = this.windows.get(t.slice(i, i + WINDOW));
      if (!what) continue;
      out.push(`${where}: ${what} at ${i}: …${text.slice(Math.max(0, i - 40), i + 40)}…`);
      i += WINDOW - 1;
    }
    for (const f of out) this.found.add(f);
    return out;
  }

  /** Which secrets (labels with their spelling) a text holds, once each. */
  kinds(text: string): Set<string> {
    const t = text.toLowerCase();
    const out = new Set<string>();
    for (let i = 0; i + WINDOW <= t.length; i++) {
      const what = this.windows.get(t.slice(i, i + WINDOW));
      if (what) out.add(what);
    }
    return out;
  }

  findings(): string[] {
    return [...this.found];
  }
}
