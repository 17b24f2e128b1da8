import { describe, expect, it } from 'vitest';
import {
  allowedHosts,
  allowedPeers,
  checkHostOrigin,
  isLoopback,
  parseHttpArgs,
  tokenChecker,
} from '../../src/mcp/http/guard.js';

describe('HTTP guard units', () => {
  it('parses --port/--host with defaults', () => {
    expect(parseHttpArgs(['--http'])).toEqual({ host: '127.0.0.1', port: 3000 });
    expect(parseHttpArgs(['--http', '--port', '0', '--host', 'localhost'])).toEqual({
      host: 'localhost',
      port: 0,
    });
    expect(parseHttpArgs(['--port=8080', '--host=[::1]'])).toEqual({ host: '::1', port: 8080 });
    expect(() => parseHttpArgs(['--port', '70000'])).toThrow(/--port/);
    expect(() => parseHttpArgs(['--host', 'a b'])).toThrow(/--host/);
  });

  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1'])
      expect(isLoopback(h)).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.2', 'example.com', '128.0.0.1'])
      expect(isLoopback(h)).toBe(false);
  });

  it('allows the bound host, loopback names for loopback and wildcard binds, and MCP_ALLOWED_HOSTS', () => {
    expect([...allowedHosts('127.0.0.1', 3000, undefined)].sort()).toEqual([
      '127.0.0.1:3000',
      '[::1]:3000',
      'localhost:3000',
    ]);
    expect([...allowedHosts('10.1.2.3', 8080, 'mcp.example.com, MCP.example.com:8443')].sort()).toEqual([
      '10.1.2.3:8080',
      'mcp.example.com',
      'mcp.example.com:8443',
    ]);
    expect(allowedHosts('0.0.0.0', 80, undefined).has('0.0.0.0:80')).toBe(false);
    const allowed = allowedPeers('10.1.2.3', 8080, 'mcp.example.com');
    expect(checkHostOrigin(allowed, 'mcp.example.com', 'https://mcp.example.com')).toBeUndefined();
    expect(checkHostOrigin(allowed, 'mcp.example.com', 'https://mcp.example.com:443')).toBeUndefined();
    expect(checkHostOrigin(allowed, 'mcp.example.com', 'https://evil.com')).toMatch(/Origin/);
    expect(checkHostOrigin(allowed, undefined, undefined)).toMatch(/Host/);
  });

  it('compares the Origin scheme as well as host and port', () => {
    // The server's own names speak plain HTTP: an https Origin for them is another origin.
    const local = allowedPeers('127.0.0.1', 3000, undefined);
    expect(checkHostOrigin(local, '127.0.0.1:3000', 'http://127.0.0.1:3000')).toBeUndefined();
    expect(checkHostOrigin(local, '127.0.0.1:3000', 'http://LOCALHOST:3000')).toBeUndefined();
    expect(checkHostOrigin(local, '127.0.0.1:3000', 'https://127.0.0.1:3000')).toMatch(/Origin/);
    expect(checkHostOrigin(local, '127.0.0.1:3000', 'https://localhost:3000')).toMatch(/Origin/);
    expect(checkHostOrigin(local, '127.0.0.1:3000', 'http://127.0.0.1:3001')).toMatch(/Origin/);
    // A bare name is behind a TLS proxy: https only, unless it names the server's own port.
    const proxied = allowedPeers('10.1.2.3', 8080, 'mcp.example.com, lan-box:8080');
    expect(checkHostOrigin(proxied, 'mcp.example.com', 'https://mcp.example.com')).toBeUndefined();
    expect(checkHostOrigin(proxied, 'mcp.example.com', 'http://mcp.example.com')).toMatch(/Origin/);
    expect(checkHostOrigin(proxied, 'lan-box:8080', 'http://lan-box:8080')).toBeUndefined();
    expect(checkHostOrigin(proxied, 'lan-box:8080', 'https://lan-box:8080')).toBeUndefined();
    // An entry with a scheme allows exactly that scheme, and its host for the Host header.
    const explicit = allowedPeers('10.1.2.3', 8080, 'http://intranet:9000, HTTPS://mcp.example.com:443');
    expect([...explicit.hosts].sort()).toEqual(['10.1.2.3:8080', 'intranet:9000', 'mcp.example.com']);
    expect(checkHostOrigin(explicit, 'intranet:9000', 'http://intranet:9000')).toBeUndefined();
    expect(checkHostOrigin(explicit, 'intranet:9000', 'https://intranet:9000')).toMatch(/Origin/);
    expect(checkHostOrigin(explicit, 'mcp.example.com', 'https://mcp.example.com')).toBeUndefined();
    expect(checkHostOrigin(explicit, 'mcp.example.com', 'http://mcp.example.com')).toMatch(/Origin/);
  });

  it('checks bearer tokens exactly', () => {
    const check = tokenChecker('s3cret-token')!;
    expect(check('Bearer s3cret-token')).toBe(true);
    expect(check('bearer s3cret-token')).toBe(true);
    expect(check('Bearer s3cret-tokeN')).toBe(false);
    expect(check('Bearer s3cret-token extra')).toBe(false);
    expect(check(undefined)).toBe(false);
    expect(tokenChecker(undefined)).toBeUndefined();
  });
});
