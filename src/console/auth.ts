/**
 * The operator's credential, separate from the agent's: the operator token (CAPILLARY_OPERATOR_TOKEN,
 * or one generated into the data dir, mode 0600), a signed session cookie after sign-in, and a CSRF
 * token per session on every form. Nothing here is ever rendered or handed to the model: the token
 * is typed by the human into the sign-in form, and the cookie is HttpOnly.
 *
 * Sessions are stateless (an HMAC keyed by the token), so any replica with the same token accepts
 * them. Changing the token signs every operator out.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Where a generated operator token is kept. */
export const tokenFile = (dataDir: string) => join(dataDir, 'operator-token');

/**
 * The operator token: the configured one, else the data dir's (created once, 0600, never
 * overwritten: created exclusively, so two processes starting together agree).
 */
export function operatorToken(configured: string | undefined, dataDir: string): string {
  if (configured) return configured;
  const path = tokenFile(dataDir);
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(path, 'utf8').trim();
    throw e;
  }
  try {
    writeSync(fd, `${token}\n`);
  } finally {
    closeSync(fd);
  }
  return token;
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();
const mac = (key: Buffer, s: string) => createHmac('sha256', key).update(s, 'utf8').digest('base64url');
const same = (a: string, b: string) => timingSafeEqual(sha256(a), sha256(b));

export const COOKIE = 'clmcp_console';
/** How long a sign-in lasts. */
export const SESSION_MS = 8 * 3_600_000;

export interface Session {
  /** The name the operator signed in with: who approved, settled or lifted. */
  name: string;
  /** The session's CSRF token, carried by every form. */
  csrf: string;
}

/** Signs operators in and checks their sessions and forms. */
export class OperatorAuth {
  private readonly key: Buffer;
  /** Names this token's cookie, so that consoles with different tokens on one host keep theirs. */
  readonly tag: string;
  constructor(private readonly token: string) {
    this.key = createHmac('sha256', token).update('capillary-loyalty-mcp console session v1').digest();
    this.tag = createHash('sha256').update(this.key).digest('hex').slice(0, 8);
  }

  /** Whether a typed token is the operator token (constant time). */
  checkToken(typed: string | undefined): boolean {
    return typeof typed === 'string' && typed.length > 0 && same(typed.trim(), this.token);
  }

  /** A new session's cookie value for an operator's name. */
  issue(name: string, now = Date.now()): string {
    const body = Buffer.from(
      JSON.stringify({ n: name, e: now + SESSION_MS, r: randomBytes(12).toString('base64url') }),
    ).toString('base64url');
    return `${body}.${mac(this.key, body)}`;
  }

  /** The session a cookie header carries, if it is valid and unexpired. */
  session(cookieHeader: string | undefined, name = COOKIE, now = Date.now()): Session | undefined {
    const value = cookieOf(cookieHeader, name);
    if (!value) return undefined;
    const [body, sig, extra] = value.split('.');
    if (!body || !sig || extra !== undefined || !same(sig, mac(this.key, body))) return undefined;
    try {
      const s = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
      if (typeof s.n !== 'string' || typeof s.e !== 'number' || typeof s.r !== 'string' || now > s.e)
        return undefined;
      return { name: s.n, csrf: mac(this.key, `csrf:${s.r}`) };
    } catch {
      return undefined;
    }
  }

  /** Whether a form's CSRF token is its session's. */
  checkCsrf(s: Session, sent: string | undefined): boolean {
    return typeof sent === 'string' && sent.length > 0 && same(sent, s.csrf);
  }
}

/** One cookie's value from a Cookie header. */
export function cookieOf(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}
