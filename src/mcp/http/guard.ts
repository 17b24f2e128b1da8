import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

/** What `--http [--port N] [--host H]` asks for. */
export interface HttpArgs {
  host: string;
  port: number;
}

export class HttpArgError extends Error {}

/** Parses --port and --host (also --port=N / --host=H). Anything malformed is an HttpArgError. */
export function parseHttpArgs(argv: string[]): HttpArgs {
  let host = '127.0.0.1';
  let port = 3000;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const flag = eq > 0 ? a.slice(0, eq) : a;
    if (flag !== '--port' && flag !== '--host') continue;
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined || value === '' || value.startsWith('--'))
      throw new HttpArgError(`${flag} needs a value`);
    if (flag === '--port') {
      if (!/^\d{1,5}$/.test(value) || Number(value) > 65535)
        throw new HttpArgError(`--port must be a whole number from 0 to 65535 (got "${value}")`);
      port = Number(value);
    } else {
      const h = value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value;
      if (!/^[A-Za-z0-9.:-]+$/.test(h))
        throw new HttpArgError(`--host must be a host name or IP address (got "${value}")`);
      host = h;
    }
  }
  return { host, port };
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (h.startsWith('::ffff:')) return h.slice(7).startsWith('127.');
  return false;
}

/** True for the wildcard binds (every interface). */
export const isWildcard = (host: string) => host === '0.0.0.0' || host === '::' || host === '[::]';

/** host:port as it appears in a URL or a Host header (IPv6 in brackets). */
export function hostPort(host: string, port: number): string {
  return `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

/**
 * The Host header values accepted (lower case). A loopback bind accepts the loopback names;
 * another bind accepts its own host:port; a wildcard bind, which is also reachable on loopback,
 * accepts the loopback names. MCP_ALLOWED_HOSTS adds exact values, e.g. `mcp.example.com`
 * (a reverse proxy on the default port) or `mcp.example.com:8443`.
 */
export function allowedHosts(host: string, port: number, extra: string | undefined): Set<string> {
  const out = new Set<string>();
  if (isLoopback(host) || isWildcard(host))
    for (const h of ['127.0.0.1', 'localhost', '[::1]']) out.add(`${h}:${port}`);
  if (!isWildcard(host)) out.add(hostPort(host, port).toLowerCase());
  for (const h of (extra ?? '').split(',')) {
    const v = h.trim().toLowerCase();
    if (v) out.add(v);
  }
  return out;
}

/** DNS-rebinding check: the Host header must be allowed; an Origin, when sent, must name an allowed host. */
export function checkHostOrigin(
  allowed: Set<string>,
  host: string | undefined,
  origin: string | undefined,
): string | undefined {
  if (!host || !allowed.has(host.toLowerCase())) return 'Forbidden: Host header not allowed';
  if (origin !== undefined) {
    let u: URL;
    try {
      u = new URL(origin);
    } catch {
      return 'Forbidden: Origin not allowed';
    }
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !originHostAllowed(allowed, u))
      return 'Forbidden: Origin not allowed';
  }
  return undefined;
}

function originHostAllowed(allowed: Set<string>, u: URL): boolean {
  // u.host drops a default port: an Origin of https://mcp.example.com matches the entry
  // "mcp.example.com", and http://localhost:3000 matches "localhost:3000".
  return allowed.has(u.host.toLowerCase());
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Bearer-token check in constant time (hashes first, so lengths do not leak either). */
export function tokenChecker(
  token: string | undefined,
): ((authorization: string | undefined) => boolean) | undefined {
  if (!token) return undefined;
  const expected = sha256(token);
  return (authorization) => {
    if (!authorization) return false;
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    return !!m && timingSafeEqual(sha256(m[1]), expected);
  };
}
