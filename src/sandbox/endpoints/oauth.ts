/**
 * Authentication: Basic (till username + md5 of the password), OAuth access tokens, and
 * POST /v3/oauth/token/generate, which issues them.
 */
import { isObj, type Obj, type Reply, reply, type SandboxCore } from '../core.js';
import { md5hex, SANDBOX_CREDENTIALS } from '../credentials.js';
import { randomId } from '../state.js';

const EXPECTED_BASIC_HASH = md5hex(SANDBOX_CREDENTIALS.password);
const TOKEN_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** Check a Basic Authorization header value against the sandbox credentials. */
export function basicOk(header: string | undefined): boolean {
  if (!header) return false;
  const m = /^\s*basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!m) return false;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return false;
  return (
    decoded.slice(0, i) === SANDBOX_CREDENTIALS.username &&
    decoded.slice(i + 1).toLowerCase() === EXPECTED_BASIC_HASH
  );
}

/** true when the headers carry a valid OAuth token or Basic credentials. */
export function authenticate(core: SandboxCore, get: (name: string) => string | undefined): boolean {
  const token = get('x-cap-api-oauth-token') ?? get('cap-api-access-token');
  if (token !== undefined) {
    const exp = core.tokens.get(token.trim());
    if (exp === undefined) return false;
    if (exp <= core.now()) {
      core.tokens.delete(token.trim());
      return false;
    }
    return true;
  }
  return basicOk(get('authorization'));
}

/** POST /v3/oauth/token/generate */
export function oauthGenerate(core: SandboxCore, body: unknown): Reply {
  const b: Obj = isObj(body) ? body : {};
  if (b.key !== SANDBOX_CREDENTIALS.oauthKey || b.secret !== SANDBOX_CREDENTIALS.oauthSecret) {
    return reply(401, {
      data: null,
      errors: [{ status: false, code: 401, message: 'Invalid key or secret' }],
    });
  }
  const now = core.now();
  if (core.tokens.size > 10_000) for (const [t, exp] of core.tokens) if (exp <= now) core.tokens.delete(t);
  const accessToken = `sbx.${randomId(40, TOKEN_ALPHABET)}`;
  core.tokens.set(accessToken, now + core.oauthTtlSeconds * 1000);
  return reply(200, { data: { accessToken, ttlSeconds: core.oauthTtlSeconds }, errors: null });
}
