import { describe, expect, it } from 'vitest';
import {
  allowedHosts,
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
    const allowed = allowedHosts('10.1.2.3', 8080, 'mcp.example.com');
    expect(checkHostOrigin(allowed, 'mcp.example.com', 'https://mcp.example.com')).toBeUndefined();
    expect(checkHostOrigin(allowed, 'mcp.example.com', 'https://mcp.example.com:443')).toBeUndefined();
    expect(checkHostOrigin(allowed, 'mcp.example.com', 'https://evil.com')).toMatch(/Origin/);
    expect(checkHostOrigin(allowed, undefined, undefined)).toMatch(/Host/);
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
