import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, childEnv, type HttpChild, spawnHttp, tempDir } from '../fixtures/cli.js';
import { connectHttp, connectStdio, MCP_HEADERS, raw } from '../fixtures/clients.js';
import { connectHttpV2, connectStdioV2 } from '../fixtures/clients-v2.js';
import { closeAfterEach } from '../fixtures/lifecycle.js';

/**
 * Every client era on both transports, against the built server on its embedded sandbox: the
 * SDK's v1 Client (2025-11-25), the v2 Client in its default legacy mode, and the v2 Client
 * pinned to 2026-07-28 (no initialize; the per-request envelope). Each lists the tools, reads a
 * balance, redeems, repeats the redemption (replayed, the balance moved once) and is refused by
 * a cap. Then what only 2026-07-28 has: server/discover, -32022 for an unsupported version, and
 * on HTTP the routing headers.
 */

const MODERN = '2026-07-28';
const CAP = { CAPILLARY_MAX_POINTS_PER_REDEMPTION: '1000' };

interface Caller {
  listTools(): Promise<{ tools: Array<{ name: string }> }>;
  callTool(p: { name: string; arguments: Record<string, unknown> }): Promise<unknown>;
  close(): Promise<void>;
}

type Kind = 'v1' | 'v2 legacy' | 'v2 2026-07-28';
const KINDS: Kind[] = ['v1', 'v2 legacy', 'v2 2026-07-28'];

const track = closeAfterEach();

async function stdioCaller(kind: Kind): Promise<Caller> {
  const env = { CAPILLARY_DATA_DIR: tempDir('data-'), ...CAP };
  if (kind === 'v1') return track(await connectStdio(env)).client as unknown as Caller;
  const m = track(await connectStdioV2(env, { mode: kind === 'v2 legacy' ? 'legacy' : 'modern' }));
  return m.client as unknown as Caller;
}

async function httpCaller(kind: Kind, url: string): Promise<Caller> {
  const c =
    kind === 'v1'
      ? await connectHttp(url)
      : await connectHttpV2(url, { mode: kind === 'v2 legacy' ? 'legacy' : 'modern' });
  return track({ close: () => c.close(), c }).c as unknown as Caller;
}

const struct = (r: unknown) => (r as { structuredContent: any }).structuredContent;

async function balance(c: Caller, mobile: string): Promise<number> {
  const r = struct(
    await c.callTool({
      name: 'get_points_balance',
      arguments: { identifier_name: 'mobile', identifier_value: mobile },
    }),
  );
  expect(typeof r.balance).toBe('number');
  return r.balance;
}

/** The same five steps in every era and on every transport. */
async function fiveSteps(c: Caller, mobile: string, notes: string, points: number) {
  const listed = (await c.listTools()).tools.map((t) => t.name);
  expect(listed).toContain('redeem_points');
  expect(listed).toContain('get_points_balance');
  const before = await balance(c, mobile);
  const args = { customer: { mobile }, points, notes };
  const first = struct(await c.callTool({ name: 'redeem_points', arguments: args }));
  expect(first.redemption_id, JSON.stringify(first)).toBeDefined();
  expect(first.replayed).toBeUndefined();
  const again = struct(await c.callTool({ name: 'redeem_points', arguments: args }));
  expect(again).toMatchObject({ replayed: true, redemption_id: first.redemption_id });
  expect(await balance(c, mobile)).toBe(before - points);
  const refused = (await c.callTool({
    name: 'redeem_points',
    arguments: { customer: { mobile }, points: 2000, notes },
  })) as { isError?: boolean };
  expect(refused.isError).toBe(true);
  expect(struct(refused).error).toMatchObject({ source: 'safety', outcome: 'not_sent' });
  expect(await balance(c, mobile)).toBe(before - points);
}

describe('every client era over stdio', () => {
  it.each(KINDS)('%s: tools/list, a read, a money call, its replay, a refusal', async (kind) => {
    await fiveSteps(await stdioCaller(kind), '919000000001', `stdio ${kind}`, 10);
  });
});

describe('every client era over Streamable HTTP, one server', () => {
  let srv: HttpChild;
  beforeAll(async () => {
    srv = await spawnHttp(CAP);
  });
  afterAll(() => srv?.stop());

  it.each(KINDS)('%s: tools/list, a read, a money call, its replay, a refusal', async (kind) => {
    // One server: each era moves its own amount (an identical operation would be replayed).
    await fiveSteps(
      await httpCaller(kind, srv.url),
      '919000000001',
      `http ${kind}`,
      10 + KINDS.indexOf(kind),
    );
  });

  const envelope = (version = MODERN) => ({
    'io.modelcontextprotocol/protocolVersion': version,
    'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
    'io.modelcontextprotocol/clientCapabilities': {},
  });
  const post = (body: unknown, headers: Record<string, string>) =>
    raw(srv.url, {
      method: 'POST',
      headers: { ...MCP_HEADERS, host: `127.0.0.1:${srv.port}`, ...headers },
      body: JSON.stringify(body),
    });
  const listReq = (version = MODERN) => ({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/list',
    params: { _meta: envelope(version) },
  });
  const callReq = {
    jsonrpc: '2.0',
    id: 2,
    method: 'tools/call',
    params: {
      name: 'get_points_balance',
      arguments: { identifier_name: 'mobile', identifier_value: '919000000003' },
      _meta: envelope(),
    },
  };
  const modernHeaders = (method: string, extra: Record<string, string> = {}) => ({
    'mcp-protocol-version': MODERN,
    'mcp-method': method,
    ...extra,
  });

  it('a malformed initialize is invalid params (-32602) in one line, not an internal error', async () => {
    const r = await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: 5 } }, {});
    const err = JSON.parse(r.body).error;
    expect(err.code).toBe(-32602);
    expect(err.message).toMatch(/^Invalid params for initialize: protocolVersion: /);
    expect(err.message).not.toMatch(/\n/);
  });

  it('2026-07-28: server/discover names the revision, the tools capability and the server', async () => {
    const r = await post(
      { jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: envelope() } },
      modernHeaders('server/discover'),
    );
    expect(r.status).toBe(200);
    const result = JSON.parse(r.body).result;
    expect(result.supportedVersions).toContain(MODERN);
    expect(result.capabilities.tools).toBeDefined();
    expect(JSON.stringify(result)).toMatch(/capillary-loyalty-mcp/);
  });

  it('2026-07-28: an unsupported protocol version is -32022 naming the supported ones', async () => {
    const r = await post(
      listReq('2099-01-01'),
      modernHeaders('tools/list', { 'mcp-protocol-version': '2099-01-01' }),
    );
    const err = JSON.parse(r.body).error;
    expect(err.code).toBe(-32022);
    expect(err.data.supported).toContain(MODERN);
  });

  it('2026-07-28: the routing headers are checked (MCP-Protocol-Version, Mcp-Method, Mcp-Name)', async () => {
    const ok = await post(callReq, modernHeaders('tools/call', { 'mcp-name': 'get_points_balance' }));
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body).result.structuredContent.customer_id).toBeDefined();
    const refusals = [
      // the header's version differs from the envelope's
      modernHeaders('tools/call', { 'mcp-name': 'get_points_balance', 'mcp-protocol-version': '2025-11-25' }),
      // no Mcp-Method
      { 'mcp-protocol-version': MODERN, 'mcp-name': 'get_points_balance' },
      // Mcp-Method says another method
      modernHeaders('tools/list', { 'mcp-name': 'get_points_balance' }),
      // tools/call without Mcp-Name
      modernHeaders('tools/call'),
      // Mcp-Name names another tool
      modernHeaders('tools/call', { 'mcp-name': 'redeem_points' }),
    ];
    for (const headers of refusals) {
      const r = await post(callReq, headers);
      expect(r.status, JSON.stringify(headers)).toBe(400);
      expect(JSON.parse(r.body).error.code, JSON.stringify(headers)).toBeTypeOf('number');
      expect(r.body).not.toMatch(/structuredContent/);
    }
  });
});

/** Raw JSON-RPC lines to the built server over stdio: one request, its answer. */
async function stdioExchange(lines: unknown[]): Promise<any[]> {
  const child = spawn(process.execPath, [CLI], {
    env: childEnv({ CAPILLARY_DATA_DIR: tempDir('data-') }),
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stdin.write(lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
  const want = lines.filter((l) => (l as { id?: unknown }).id !== undefined).length;
  for (let i = 0; i < 200 && out.split('\n').filter(Boolean).length < want; i++)
    await new Promise((r) => setTimeout(r, 25));
  child.stdin.end();
  await new Promise((r) => child.once('exit', r));
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

describe('2026-07-28 over stdio, raw', () => {
  const meta = (version = MODERN) => ({
    'io.modelcontextprotocol/protocolVersion': version,
    'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
    'io.modelcontextprotocol/clientCapabilities': {},
  });

  it('server/discover opens a 2026-07-28 connection; tools/list follows without initialize', async () => {
    const [discover, list] = await stdioExchange([
      { jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: meta() } },
      { jsonrpc: '2.0', id: 2, method: 'tools/list', params: { _meta: meta() } },
    ]);
    expect(discover.result.supportedVersions).toContain(MODERN);
    expect(list.result.tools.map((t: { name: string }) => t.name)).toContain('redeem_points');
  });

  it('an unsupported version is -32022', async () => {
    const [r] = await stdioExchange([
      { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: meta('2099-01-01') } },
    ]);
    expect(r.error.code).toBe(-32022);
  });

  it('a malformed initialize is invalid params (-32602) in one line, not an internal error', async () => {
    const [r] = await stdioExchange([
      { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: 5 } },
    ]);
    expect(r.error.code).toBe(-32602);
    expect(r.error.message).toMatch(/^Invalid params for initialize: /);
    expect(r.error.message).not.toMatch(/\n/);
  });
});
