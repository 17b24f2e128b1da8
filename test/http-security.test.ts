import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allowedHosts,
  allowedPeers,
  checkHostOrigin,
  isLoopback,
  parseHttpArgs,
  tokenChecker,
} from '../src/mcp/http/guard.js';
import { decodeSession, encodeSession } from '../src/mcp/http/relay.js';
import {
  connectHttp,
  type HttpChild,
  MCP_HEADERS,
  type RawResponse,
  raw,
  rpc,
  spawnCli,
  spawnHttp,
} from './helpers/http-server.js';

const TOKEN = 'test-token-0123456789abcdef-canary';
const AUTH = { authorization: `Bearer ${TOKEN}` };

/** Every refusal is a JSON-RPC error with no id, and says nothing about internals. */
function expectCleanError(r: RawResponse, status: number) {
  expect(r.status).toBe(status);
  expect(r.headers['content-type']).toBe('application/json');
  const body = JSON.parse(r.body);
  expect(body).toMatchObject({
    jsonrpc: '2.0',
    error: { code: expect.any(Number), message: expect.any(String) },
    id: null,
  });
  expect(r.body).not.toMatch(/\bat .+:\d+:\d+|node_modules|\/work\/|sandbox-password|Error:/);
  expect(r.body).not.toContain(TOKEN);
  return body;
}

describe('HTTP security (MCP_HTTP_TOKEN set, loopback bind)', () => {
  let srv: HttpChild;
  let host: string;

  beforeAll(async () => {
    srv = await spawnHttp({ MCP_HTTP_TOKEN: TOKEN, MCP_HTTP_MAX_BODY_BYTES: String(64 * 1024) });
    host = `127.0.0.1:${srv.port}`;
  });
  afterAll(async () => {
    await srv?.stop();
  });

  const post = (headers: Record<string, string>, body = rpc('tools/list')) =>
    raw(srv.url, { method: 'POST', headers: { ...MCP_HEADERS, ...AUTH, ...headers }, body });

  it('says auth is on, and never prints the token', () => {
    expect(srv.stderr()).toContain('auth: bearer token required');
    expect(srv.stderr()).not.toContain(TOKEN);
  });

  it('401 with WWW-Authenticate: Bearer when the token is missing or wrong', async () => {
    for (const authorization of [
      undefined,
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN.slice(0, -1)}`,
      `Basic ${TOKEN}`,
      TOKEN,
    ]) {
      const r = await raw(srv.url, {
        method: 'POST',
        headers: { ...MCP_HEADERS, ...(authorization ? { authorization } : {}) },
        body: rpc('tools/list'),
      });
      expectCleanError(r, 401);
      expect(r.headers['www-authenticate']).toBe('Bearer');
    }
  });

  it('the right token works, through the SDK client', async () => {
    const c = await connectHttp(srv.url, { headers: AUTH });
    try {
      const { tools } = await c.listTools();
      expect(tools.length).toBeGreaterThan(0);
      const r = (await c.callTool({
        name: 'get_points_balance',
        arguments: { identifier_name: 'mobile', identifier_value: '919000000001' },
      })) as any;
      expect(r.structuredContent).toMatchObject({ balance: 5000 });
    } finally {
      await c.close();
    }
  });

  it('the SDK client without the token is refused', async () => {
    await expect(connectHttp(srv.url)).rejects.toThrow();
  });

  it('GET /healthz needs no token', async () => {
    const r = await raw(`http://${host}/healthz`);
    expect(r.status).toBe(200);
    expect(r.body).toBe('{"status":"ok"}');
  });

  it('403 for a foreign Host header, even with the token (DNS rebinding)', async () => {
    for (const h of [
      'evil.example.com',
      `evil.example.com:${srv.port}`,
      '127.0.0.1:1',
      `localhost.evil.com:${srv.port}`,
    ])
      expectCleanError(await post({ host: h }), 403);
    const hz = await raw(`http://${host}/healthz`, { headers: { host: 'evil.example.com' } });
    expect(hz.status).toBe(403);
  });

  it('accepts every loopback name for the port', async () => {
    for (const h of [
      `127.0.0.1:${srv.port}`,
      `localhost:${srv.port}`,
      `[::1]:${srv.port}`,
      `LOCALHOST:${srv.port}`,
    ])
      expect((await post({ host: h })).status).toBe(200);
  });

  it('403 for a foreign Origin; a loopback Origin is fine', async () => {
    for (const origin of [
      'http://evil.example.com',
      `http://evil.example.com:${srv.port}`,
      'null',
      'file://x',
      `ftp://${host}`,
    ])
      expectCleanError(await post({ origin }), 403);
    expect((await post({ origin: `http://${host}` })).status).toBe(200);
    expect((await post({ origin: `http://localhost:${srv.port}` })).status).toBe(200);
    // Same host and port, other scheme: another origin.
    expectCleanError(await post({ origin: `https://${host}` }), 403);
    expectCleanError(await post({ origin: `https://localhost:${srv.port}` }), 403);
  });

  it('413 for a body over MCP_HTTP_MAX_BODY_BYTES, declared or streamed', async () => {
    const big = rpc('tools/call', { name: 'get_points_balance', arguments: { pad: 'x'.repeat(100 * 1024) } });
    expectCleanError(await post({}, big), 413);
    const chunked = await raw(srv.url, {
      method: 'POST',
      headers: { ...MCP_HEADERS, ...AUTH },
      body: big,
      chunked: true,
    });
    expectCleanError(chunked, 413);
    // Just under the limit is read (and refused by the tool, not the transport).
    expect((await post({}, rpc('tools/list', { pad: 'x'.repeat(60 * 1024) }))).status).toBe(200);
  });

  it('406 when Accept lacks application/json or text/event-stream', async () => {
    for (const accept of ['application/json', 'text/event-stream', '*/*', ''])
      expectCleanError(await post({ accept }), 406);
  });

  it('415 for a wrong content type', async () => {
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx'])
      expectCleanError(await post({ 'content-type': ct }), 415);
    expect((await post({ 'content-type': 'application/json; charset=utf-8' })).status).toBe(200);
  });

  it('400 for invalid JSON or a non-JSON-RPC body', async () => {
    expect(expectCleanError(await post({}, '{"jsonrpc":'), 400).error.code).toBe(-32700);
    expect(expectCleanError(await post({}, '[]'), 400).error.code).toBe(-32600);
    expect(expectCleanError(await post({}, '{"hello":1}'), 400).error.code).toBe(-32600);
  });

  it('400 for a response to a request the server never sent; 202 for a notification', async () => {
    const r = await post({}, JSON.stringify({ jsonrpc: '2.0', id: 'srv-unknown', result: {} }));
    expectCleanError(r, 400);
    const n = await post({}, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
    expect(n.status).toBe(202);
    expect(n.body).toBe('');
  });
});

describe('HTTP start-up refusals', () => {
  it('a non-loopback --host without MCP_HTTP_TOKEN refuses to start (exit 1, clear message)', async () => {
    const child = spawnCli(['--http', '--host', '0.0.0.0', '--port', '0'], {});
    expect(await child.exited).toBe(1);
    expect(child.stderr()).toMatch(/MCP_HTTP_TOKEN must be set/);
    expect(child.stderr()).toMatch(/0\.0\.0\.0/);
    expect(child.stderr()).not.toMatch(/listening|Streamable HTTP at/);
  });

  it('bad --port and bad limits are configuration errors (exit 1)', async () => {
    for (const [args, env, msg] of [
      [['--http', '--port', 'abc'], {}, /--port must be/],
      [['--http', '--port'], {}, /--port needs a value/],
      [['--http', '--port', '0'], { MCP_HTTP_MAX_BODY_BYTES: '0' }, /MCP_HTTP_MAX_BODY_BYTES/],
      [['--http', '--port', '0'], { MCP_SHUTDOWN_TIMEOUT_MS: '-5' }, /MCP_SHUTDOWN_TIMEOUT_MS/],
    ] as const) {
      const child = spawnCli([...args], { ...env });
      expect(await child.exited).toBe(1);
      expect(child.stderr()).toMatch(msg);
    }
  });
});

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

  it('carries the elicitation capability in a self-contained session id', () => {
    expect(encodeSession({})).toBeUndefined();
    expect(encodeSession(undefined)).toBeUndefined();
    const sid = encodeSession({ elicitation: {}, sampling: {} })!;
    expect(sid).toMatch(/^mcp1\.[0-9a-f]{32}\.[A-Za-z0-9_-]+$/);
    expect(decodeSession(sid)).toEqual({ elicitation: { form: {} } });
    expect(decodeSession(encodeSession({ elicitation: { form: {}, url: {} } }))).toEqual({
      elicitation: { form: {}, url: {} },
    });
    expect(encodeSession({ elicitation: {} })).not.toBe(sid);
    for (const bad of [
      undefined,
      '',
      'abc',
      'mcp1.x.y',
      `mcp1.${'0'.repeat(32)}.!!!`,
      `mcp1.${'0'.repeat(32)}.bm90IGpzb24`,
    ])
      expect(decodeSession(bad)).toBeUndefined();
  });
});
