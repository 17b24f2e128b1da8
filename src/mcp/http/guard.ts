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

/** The Host header values and the Origins (scheme, host and port) the server accepts. */
export interface AllowedPeers {
  /** Host header values, lower case. */
  hosts: Set<string>;
  /** Origins as URL.origin writes them: `scheme://host[:port]`, the default port left out. */
  origins: Set<string>;
}

/** The bound address's own names: loopback names for a loopback or wildcard bind, else host:port. */
function ownHosts(host: string, port: number): string[] {
  const out: string[] = [];
  if (isLoopback(host) || isWildcard(host))
    for (const h of ['127.0.0.1', 'localhost', '[::1]']) out.push(`${h}:${port}`);
  if (!isWildcard(host)) out.push(hostPort(host, port).toLowerCase());
  return out;
}

/** One MCP_ALLOWED_HOSTS entry: `name[:port]` or `scheme://name[:port]`; undefined if unreadable. */
function parseEntry(entry: string): { host: string; scheme?: 'http' | 'https'; port: string } | undefined {
  const v = entry.trim().toLowerCase();
  if (!v) return undefined;
  const withScheme = v.includes('://');
  try {
    const u = new URL(withScheme ? v : `https://${v}`);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
    return {
      host: withScheme ? u.host : v,
      scheme: withScheme ? (u.protocol.slice(0, -1) as 'http' | 'https') : undefined,
      port: u.port,
    };
  } catch {
    return undefined;
  }
}

/**
 * The Host header values accepted (lower case). A loopback bind accepts the loopback names;
 * another bind accepts its own host:port; a wildcard bind, which is also reachable on loopback,
 * accepts the loopback names. MCP_ALLOWED_HOSTS adds exact values, e.g. `mcp.example.com`
 * (a reverse proxy on the default port) or `mcp.example.com:8443`, optionally with a scheme.
 */
export function allowedHosts(host: string, port: number, extra: string | undefined): Set<string> {
  return allowedPeers(host, port, extra).hosts;
}

/**
 * Hosts and Origins accepted. The server speaks plain HTTP, so its own names are accepted as
 * `http://` Origins. An MCP_ALLOWED_HOSTS entry with a scheme (`https://mcp.example.com`,
 * `http://intranet:8080`) allows exactly that Origin; a bare entry is a name behind a TLS proxy,
 * so `https://`, and also `http://` when its port is the server's own (reached directly).
 */
export function allowedPeers(host: string, port: number, extra: string | undefined): AllowedPeers {
  const hosts = new Set<string>(ownHosts(host, port));
  const origins = new Set<string>([...hosts].map((h) => `http://${h}`));
  for (const raw of (extra ?? '').split(',')) {
    const e = parseEntry(raw);
    if (!e) continue;
    hosts.add(e.host);
    const origin = (scheme: string) => new URL(`${scheme}://${e.host}`).origin;
    if (e.scheme) origins.add(origin(e.scheme));
    else {
      origins.add(origin('https'));
      if (e.port === String(port)) origins.add(origin('http'));
    }
  }
  return { hosts, origins };
}

/**
 * DNS-rebinding check: the Host header must be allowed; an Origin, when sent, must be an allowed
 * origin, scheme included (a page on http://name may not drive a server reached as https://name).
 */
export function checkHostOrigin(
  allowed: AllowedPeers,
  host: string | undefined,
  origin: string | undefined,
): string | undefined {
  if (!host || !allowed.hosts.has(host.toLowerCase())) return 'Forbidden: Host header not allowed';
  if (origin !== undefined) {
    let u: URL;
    try {
      u = new URL(origin);
    } catch {
      return 'Forbidden: Origin not allowed';
    }
    // URL.origin lower-cases, and drops a default port: https://mcp.example.com:443 is
    // https://mcp.example.com. An opaque origin ("null", file:) is never allowed.
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !allowed.origins.has(u.origin))
      return 'Forbidden: Origin not allowed';
  }
  return undefined;
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
