import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpChild, spawnHttp } from '../fixtures/cli.js';
import { call, connectHttp, initEliciting, MCP_HEADERS, raw, rpc } from '../fixtures/clients.js';

/** `npm start` with nothing configured: Streamable HTTP on the embedded sandbox. */
describe('Streamable HTTP on the embedded sandbox (node dist/cli.js --http)', () => {
  let srv: HttpChild;
  let client: Client;

  beforeAll(async () => {
    srv = await spawnHttp();
    client = await connectHttp(srv.url);
  });
  afterAll(async () => {
    await client?.close();
    await srv?.stop();
  });

  it('says where it listens, that auth is off, and that the sandbox customers are simulated', () => {
    const err = srv.stderr();
    expect(srv.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    expect(err).toContain('auth: off');
    expect(err).toMatch(/SIMULATED/);
    expect(err).toContain('919000000001');
    expect(err).not.toContain('sandbox-password');
  });

  it('GET /healthz answers {"status":"ok","ledger":"ok"} and nothing else', async () => {
    const r = await raw(`http://127.0.0.1:${srv.port}/healthz`);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ status: 'ok', ledger: 'ok' });
  });

  it('is stateless: GET and DELETE /mcp are 405, other paths 404', async () => {
    for (const method of ['GET', 'DELETE']) {
      const r = await raw(srv.url, { method, headers: { accept: 'text/event-stream' } });
      expect(r.status).toBe(405);
      expect(r.headers.allow).toBe('POST');
      expect(JSON.parse(r.body)).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 }, id: null });
    }
    const r = await raw(`http://127.0.0.1:${srv.port}/other`, {
      method: 'POST',
      headers: MCP_HEADERS,
      body: rpc('ping'),
    });
    expect(r.status).toBe(404);
  });

  const sseData = (body: string) =>
    JSON.parse(
      body
        .split('\n')
        .find((l) => l.startsWith('data: '))!
        .slice(6),
    );
  const balance = (meta?: Record<string, unknown>) =>
    rpc('tools/call', {
      name: 'get_points_balance',
      arguments: { identifier_name: 'mobile', identifier_value: '919000000001' },
      ...(meta ? { _meta: meta } : {}),
    });

  it('answers a bare tools/list POST (no initialize, no session) as plain JSON: nothing to stream', async () => {
    const r = await raw(srv.url, { method: 'POST', headers: MCP_HEADERS, body: rpc('tools/list') });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['mcp-session-id']).toBeUndefined();
    expect(JSON.parse(r.body).result.tools.length).toBeGreaterThan(0);
  });

  it('streams a tool call (SSE) only when something may come before the answer', async () => {
    const plain = await raw(srv.url, { method: 'POST', headers: MCP_HEADERS, body: balance() });
    expect(plain.headers['content-type']).toBe('application/json');
    expect(JSON.parse(plain.body).result.structuredContent.balance).toBeTypeOf('number');
    // Progress asked for: the answer is an event stream, progress notifications can precede it.
    const progress = await raw(srv.url, {
      method: 'POST',
      headers: MCP_HEADERS,
      body: balance({ progressToken: 'p1' }),
    });
    expect(progress.headers['content-type']).toBe('text/event-stream');
    expect(sseData(progress.body).result.structuredContent.balance).toBeTypeOf('number');
    // A client that declared elicitation (carried in its session id) may be asked mid-call.
    const init = await initEliciting(srv.url, 't');
    const session = init.headers['mcp-session-id'] as string;
    expect(session).toBeTruthy();
    const asked = await raw(srv.url, {
      method: 'POST',
      headers: { ...MCP_HEADERS, 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' },
      body: balance(),
    });
    expect(asked.headers['content-type']).toBe('text/event-stream');
    expect(sseData(asked.body).result.structuredContent.balance).toBeTypeOf('number');
  });

  it('lists the tools with schemas and annotations', async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    for (const n of ['get_points_balance', 'check_points_redeemable', 'redeem_points', 'reverse_redemption'])
      expect(names).toContain(n);
    for (const t of tools) {
      expect(t.inputSchema.type).toBe('object');
      expect(t.outputSchema?.type).toBe('object');
      expect(typeof t.annotations?.readOnlyHint).toBe('boolean');
    }
  });

  it('calls every listed tool, in workflow order, with structured results', async () => {
    const balance = async (mobile: string) =>
      (await call(client, 'get_points_balance', { identifier_name: 'mobile', identifier_value: mobile }))
        .structuredContent.balance as number;
    const ok = async (name: string, args: Record<string, unknown>) => {
      const r = await call(client, name, args);
      expect(r.isError, `${name}: ${JSON.stringify(r.structuredContent)}`).toBeFalsy();
      expect(r.structuredContent.environment).toBe('sandbox');
      called.add(name);
      return r.structuredContent;
    };
    const called = new Set<string>();
    const A = { mobile: '919000000001' };

    const b = await ok('get_points_balance', { identifier_name: 'mobile', identifier_value: A.mobile });
    expect(b).toMatchObject({ customer_id: '101', balance: 5000 });

    expect(await ok('check_points_redeemable', { customer: A, points: 100 })).toMatchObject({
      redeemable: true,
      code: 800,
    });

    const code = await ok('issue_redemption_code', { customer: { mobile: '919000000004' }, points: 100 });
    expect(code).toMatchObject({ issued: true });
    expect(code.sandbox_validation_code).toMatch(/^[A-Z2-9]{6}$/);

    const r = await ok('redeem_points', { customer: A, points: 100, notes: 'http test' });
    expect(r).toMatchObject({ points_redeemed: 100, balance: 4900, user_id: '101' });
    expect(r.redemption_id).toMatch(/^[a-z0-9]{6}$/);
    expect(r.idempotency_key).toMatch(/^mcp-rdm-/);
    expect(await balance(A.mobile)).toBe(4900);

    const u = await ok('update_redemption', {
      redemption_id: r.redemption_id,
      purpose: 'http test',
      entity: { type: 'CUSTOMER', identifier_type: 'mobile', identifier_value: A.mobile },
    });
    expect(u).toMatchObject({ redemption_id: r.redemption_id, purpose: 'http test', points_redeemed: 100 });

    const rev = await ok('reverse_redemption', { redemption_id: r.redemption_id, customer: A, points: 40 });
    expect(rev).toMatchObject({ redemption_id: r.redemption_id, points_reversed: 40, balance: 4940 });

    const q = await ok('request_points_redemption', {
      entity: { till_id: '50010001' },
      customer: A,
      points: 50,
    });
    expect(q.request_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(q.state).toBe('AdminTask');

    expect(await ok('get_redemption_request', { request_id: q.request_id })).toMatchObject({
      request_id: q.request_id,
      state: 'AdminTask',
    });

    const un = await ok('unlock_promised_points', {
      identifier_name: 'mobile',
      identifier_value: '919000000003',
      source: 'INSTORE',
      event_name: 'TransactionAdd',
      bill_number: 'B-1001',
    });
    expect(un).toMatchObject({ total_points_unlocked: 120 });
    expect(await balance('919000000003')).toBe(1120);
    // Filed, not approved: nothing was deducted by the request.
    expect(await balance(A.mobile)).toBe(4940);

    const { tools } = await client.listTools();
    expect([...called].sort(), 'a listed tool has no HTTP case here: add one').toEqual(
      tools.map((t) => t.name).sort(),
    );
  });

  it('a tool error comes back as a structured isError result', async () => {
    const r = await call(client, 'redeem_points', { customer: { mobile: '919000000002' }, points: 10 });
    expect(r.isError).toBe(true);
    expect(r.structuredContent.error.code).toBeDefined();
    expect(r.structuredContent.error.outcome).toBeDefined();
  });

  it('replays an identical redemption over HTTP instead of spending twice', async () => {
    const args = { customer: { mobile: '919000000003' }, points: 7, notes: 'replay' };
    const first = await call(client, 'redeem_points', args);
    const second = await call(client, 'redeem_points', args);
    expect(first.isError).toBeFalsy();
    expect(second.structuredContent).toMatchObject({
      replayed: true,
      redemption_id: first.structuredContent.redemption_id,
    });
  });

  it('serves concurrent calls from many clients', async () => {
    const clients = await Promise.all(Array.from({ length: 4 }, () => connectHttp(srv.url)));
    try {
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          call(clients[i % 4], 'get_points_balance', {
            identifier_name: 'mobile',
            identifier_value: '919000000500',
          }),
        ),
      );
      for (const r of results)
        expect(r.structuredContent).toMatchObject({ customer_id: '500', balance: 10000 });
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });
});
