import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpChild, spawnCli, spawnHttp } from '../fixtures/cli.js';
import { connectHttp, MCP_HEADERS, type RawResponse, raw, rpc } from '../fixtures/clients.js';

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
    expect(r.body).toBe('{"status":"ok","ledger":"ok"}');
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
