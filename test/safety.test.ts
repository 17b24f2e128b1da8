import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { ledgerFiles, segmentName } from '../src/safety/ledger.js';
import { dedupingRedeem, FakeUpstream, redeemOk, redeemRefused } from './helpers/fake-upstream.js';
import { call, closedPort, connectStdio, liveEnv } from './helpers/mcp.js';

const REDEEM = '/v1.1/points/redeem';
const args = (points = 100, extra: Record<string, unknown> = {}) => ({
  customer: { mobile: '919000000001' },
  points,
  ...extra,
});

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close().catch(() => {});
});
async function fakeWith(route: Parameters<FakeUpstream['on']>[2]) {
  const f = await new FakeUpstream().on('POST', REDEEM, route).start();
  open.push(f);
  return f;
}
async function server(env: Record<string, string>, opts?: Parameters<typeof connectStdio>[1]) {
  const m = await connectStdio(env, opts);
  open.push(m);
  return m;
}
const ledger = (dir: string) =>
  ledgerFiles(dir)
    .map((f) => readFileSync(f, 'utf8'))
    .join('')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

/** Starts a redemption, and cancels it (the SDK client sends notifications/cancelled) once the upstream has it. */
async function cancelOnceSent(m: Awaited<ReturnType<typeof server>>, fake: FakeUpstream) {
  const ac = new AbortController();
  const first = m.client.callTool({ name: 'redeem_points', arguments: args() }, undefined, {
    signal: ac.signal,
  });
  for (let t = 0; t < 100 && fake.count('POST', REDEEM) === 0; t++)
    await new Promise((r) => setTimeout(r, 10));
  ac.abort();
  await expect(first).rejects.toThrow();
}

describe('server-owned idempotency', () => {
  it('the same redemption twice: one upstream request, the second replayed', async () => {
    const d = dedupingRedeem();
    const fake = await fakeWith(d.route);
    const m = await server(liveEnv(fake.url));
    const a = await call(m.client, 'redeem_points', args());
    const b = await call(m.client, 'redeem_points', args());
    expect(a.isError).toBeFalsy();
    expect(b.structuredContent).toMatchObject({
      replayed: true,
      redemption_id: a.structuredContent.redemption_id,
      idempotency_key: a.structuredContent.idempotency_key,
    });
    expect(fake.count('POST', REDEEM)).toBe(1);
    expect(d.state.spent).toBe(1);
  });

  it('argument order does not matter, but a new external_reference_number redeems again on purpose', async () => {
    const d = dedupingRedeem();
    const fake = await fakeWith(d.route);
    const m = await server(liveEnv(fake.url));
    await call(m.client, 'redeem_points', { points: 50, customer: { mobile: '919000000001' }, notes: 'x' });
    const again = await call(m.client, 'redeem_points', {
      notes: 'x',
      customer: { mobile: '919000000001' },
      points: 50,
    });
    expect(again.structuredContent.replayed).toBe(true);
    const k1 = await call(m.client, 'redeem_points', args(50, { external_reference_number: 'order-1' }));
    const k2 = await call(m.client, 'redeem_points', args(50, { external_reference_number: 'order-2' }));
    expect(k1.structuredContent.idempotency_key).toBe('order-1');
    expect(k2.structuredContent.replayed).toBeUndefined();
    expect(d.state.spent).toBe(3);
  });

  it('a client cancelling a redemption already on the wire: it completes once, is recorded, and the repeat is replayed', async () => {
    const d = dedupingRedeem();
    const fake = await fakeWith((req) => ({ ...(d.route(req) as object), delayMs: 300 }));
    const m = await server(liveEnv(fake.url));
    await cancelOnceSent(m, fake);
    await new Promise((r) => setTimeout(r, 500)); // the upstream answers meanwhile
    const again = await call(m.client, 'redeem_points', args());
    expect(again.isError).toBeFalsy();
    expect(again.structuredContent.replayed).toBe(true);
    expect(fake.count('POST', REDEEM)).toBe(1);
    expect(d.state.spent).toBe(1);
  });

  it('a client cancelling while the server waits to retry (521): nothing more is sent, and a repeat sends anew', async () => {
    let n = 0;
    const fake = await fakeWith(() =>
      ++n === 1 ? { status: 521, json: {} } : { json: redeemOk('100', 4900, 'RDM-1') },
    );
    const m = await server(liveEnv(fake.url));
    await cancelOnceSent(m, fake); // during the 250 ms backoff after the 521
    await new Promise((r) => setTimeout(r, 400));
    expect(fake.count('POST', REDEEM)).toBe(1);
    const again = await call(m.client, 'redeem_points', args());
    expect(again.isError).toBeFalsy();
    expect(again.structuredContent.replayed).toBeUndefined();
    expect(fake.count('POST', REDEEM)).toBe(2);
    // The cancelled attempt is settled as not sent (failed), not unknown: the repeat gets a fresh key.
    const keys = fake.requests.map((r) => JSON.parse(r.body).root.redeem[0].external_reference_number);
    expect(new Set(keys).size).toBe(2);
  });

  it('20 concurrent identical calls make one upstream request', async () => {
    const d = dedupingRedeem();
    const fake = await fakeWith((req) => ({ ...(d.route(req) as object), delayMs: 150 }));
    const m = await server(liveEnv(fake.url));
    const results = await Promise.all(
      Array.from({ length: 20 }, () => call(m.client, 'redeem_points', args(7))),
    );
    expect(fake.count('POST', REDEEM)).toBe(1);
    expect(results.every((r) => !r.isError)).toBe(true);
    expect(results.filter((r) => r.structuredContent.replayed).length).toBe(19);
    expect(new Set(results.map((r) => r.structuredContent.redemption_id)).size).toBe(1);
  });

  it('a lost response is an unknown outcome; the repeat re-sends the same key and nothing is spent twice', async () => {
    const d = dedupingRedeem({ first: { fault: 'reset' } });
    const fake = await fakeWith(d.route);
    const dir = liveEnv(fake.url);
    const m = await server(dir);
    const first = await call(m.client, 'redeem_points', args(300));
    expect(first.isError).toBe(true);
    expect(first.structuredContent.error).toMatchObject({
      outcome: 'unknown',
      retryable: true,
      source: 'network',
    });
    expect(first.structuredContent.error.hint).toMatch(/Repeat the identical call/);
    expect(fake.count('POST', REDEEM)).toBe(1); // never resent automatically
    const second = await call(m.client, 'redeem_points', args(300));
    expect(second.isError).toBeFalsy();
    expect(second.structuredContent.note).toMatch(
      /unknown outcome; re-sent with the same external_reference_number/,
    );
    const sentKeys = fake.requests.map((r) => JSON.parse(r.body).root.redeem[0].external_reference_number);
    expect(sentKeys[0]).toBe(sentKeys[1]);
    expect(d.state.spent).toBe(1);
    const entries = ledger(dir.CAPILLARY_DATA_DIR);
    expect(entries.map((e) => e.status)).toEqual(['pending', 'unknown', 'pending', 'succeeded']);
  });

  it('a timeout is an unknown outcome too, never resent automatically', async () => {
    const d = dedupingRedeem({ first: (n) => (n === 1 ? { ...{ json: {} }, delayMs: 3000 } : undefined) });
    const fake = await fakeWith(d.route);
    const m = await server(liveEnv(fake.url, { CAPILLARY_TIMEOUT_MS: '300' }));
    const r = await call(m.client, 'redeem_points', args(10));
    expect(r.structuredContent.error).toMatchObject({ code: 'timeout', outcome: 'unknown' });
    expect(fake.count('POST', REDEEM)).toBe(1);
  });

  it('a failed redemption gets a fresh key on the repeat', async () => {
    const fake = await fakeWith((_req, n) =>
      n === 1
        ? { status: 400, json: redeemRefused(803, 'Insufficient points') }
        : dedupingRedeem().route(_req),
    );
    const m = await server(liveEnv(fake.url));
    const a = await call(m.client, 'redeem_points', args(10));
    expect(a.structuredContent.error).toMatchObject({ code: 803, outcome: 'failed' });
    const b = await call(m.client, 'redeem_points', args(10));
    expect(b.isError).toBeFalsy();
    const keys = fake.requests.map((r) => JSON.parse(r.body).root.redeem[0].external_reference_number);
    expect(keys[0]).not.toBe(keys[1]);
  });

  it('killed with a redemption in flight, restarted: the repeat re-sends the same key, no second spend', async () => {
    const d = dedupingRedeem({ first: { fault: 'hang' } });
    const fake = await fakeWith(d.route);
    const env = liveEnv(fake.url, { CAPILLARY_TIMEOUT_MS: '5000' });
    const m1 = await connectStdio(env);
    const pending = call(m1.client, 'redeem_points', args(250)).catch(() => undefined);
    while (fake.count('POST', REDEEM) < 1) await new Promise((r) => setTimeout(r, 10));
    process.kill(m1.pid!, 'SIGKILL');
    await pending;
    await m1.close().catch(() => {});
    expect(d.state.spent).toBe(1); // the upstream wrote it; the server never heard back
    const m2 = await server(env);
    const r = await call(m2.client, 'redeem_points', args(250));
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent.note).toMatch(/unknown outcome/);
    expect(d.state.spent).toBe(1);
    const keys = fake.requests.map((x) => JSON.parse(x.body).root.redeem[0].external_reference_number);
    expect(new Set(keys).size).toBe(1);
  });

  it('an agent key reused for a different operation is refused', async () => {
    const fake = await fakeWith(dedupingRedeem().route);
    const m = await server(liveEnv(fake.url));
    await call(m.client, 'redeem_points', args(10, { external_reference_number: 'k-1' }));
    const r = await call(m.client, 'redeem_points', args(11, { external_reference_number: 'k-1' }));
    expect(r.structuredContent.error).toMatchObject({
      code: 'key_conflict',
      source: 'safety',
      outcome: 'not_sent',
    });
    expect(fake.count('POST', REDEEM)).toBe(1);
  });
});

describe('retries only where nothing was processed', () => {
  it('521 (customer lock) is retried with backoff, then succeeds', async () => {
    const d = dedupingRedeem();
    const fake = await fakeWith((req, n) =>
      n === 1
        ? {
            status: 521,
            json: {
              response: {
                status: {
                  success: 'false',
                  code: 521,
                  message: 'multiple actions running for same customer',
                },
              },
            },
          }
        : d.route(req),
    );
    const m = await server(liveEnv(fake.url));
    const r = await call(m.client, 'redeem_points', args(5));
    expect(r.isError).toBeFalsy();
    expect(fake.count('POST', REDEEM)).toBe(2);
  });
  it('429 with Retry-After is retried; without it, it is reported', async () => {
    const d = dedupingRedeem();
    const fake = await fakeWith((req, n) =>
      n === 1
        ? { status: 429, headers: { 'retry-after': '0' }, json: {} }
        : n === 2
          ? d.route(req)
          : { status: 429, json: {} },
    );
    const m = await server(liveEnv(fake.url));
    expect((await call(m.client, 'redeem_points', args(5))).isError).toBeFalsy();
    const r = await call(m.client, 'redeem_points', args(6));
    expect(r.structuredContent.error).toMatchObject({ http_status: 429, retryable: true, outcome: 'failed' });
    expect(fake.count('POST', REDEEM)).toBe(3);
  });
  it('a 500 on a redemption is never resent and is reported as unknown', async () => {
    const fake = await fakeWith({
      status: 500,
      text: '<html>oops</html>',
      headers: { 'content-type': 'text/html' },
    });
    const m = await server(liveEnv(fake.url));
    const r = await call(m.client, 'redeem_points', args(5));
    expect(r.structuredContent.error).toMatchObject({ http_status: 500, outcome: 'unknown' });
    expect(fake.count('POST', REDEEM)).toBe(1);
  });
  it('connection refused before sending is reported as not sent', async () => {
    const m = await server(liveEnv(`http://127.0.0.1:${await closedPort()}`));
    const r = await call(m.client, 'redeem_points', args(5));
    expect(r.structuredContent.error).toMatchObject({
      code: 'connection_refused',
      outcome: 'not_sent',
      source: 'network',
    });
  });
});

describe('dry run, caps, program pin', () => {
  it('dry_run validates, applies caps and returns the exact request with credentials redacted, sending nothing', async () => {
    const fake = await fakeWith(dedupingRedeem().route);
    const m = await server(liveEnv(fake.url, { CAPILLARY_MAX_POINTS_PER_REDEMPTION: '100' }));
    const r = await call(
      m.client,
      'redeem_points',
      args(40, { dry_run: true, external_reference_number: 'dr-1' }),
    );
    expect(r.isError).toBeFalsy();
    const req = r.structuredContent.dry_run_request;
    expect(req).toMatchObject({
      method: 'POST',
      url: `${fake.url}${REDEEM}`,
      query: { format: 'json' },
      headers: { Authorization: '[REDACTED]' },
    });
    expect(req.body.root.redeem[0]).toMatchObject({
      points_redeemed: '40',
      external_reference_number: 'dr-1',
    });
    const capped = await call(m.client, 'redeem_points', args(400, { dry_run: true }));
    expect(capped.structuredContent.error.code).toBe('cap_per_redemption');
    expect(fake.requests.length).toBe(0);
  });

  it('per-redemption and per-customer-per-day caps refuse before sending, saying which cap and what is left; the daily cap survives a restart', async () => {
    const fake = await fakeWith(dedupingRedeem().route);
    const env = liveEnv(fake.url, {
      CAPILLARY_MAX_POINTS_PER_REDEMPTION: '250',
      CAPILLARY_MAX_POINTS_PER_CUSTOMER_PER_DAY: '300',
    });
    const m = await server(env);
    const big = await call(m.client, 'redeem_points', args(251));
    expect(big.structuredContent.error).toMatchObject({
      code: 'cap_per_redemption',
      source: 'safety',
      outcome: 'not_sent',
      field: 'points',
    });
    expect(big.structuredContent.error.message).toMatch(/250/);
    expect((await call(m.client, 'redeem_points', args(200))).isError).toBeFalsy();
    const over = await call(m.client, 'redeem_points', args(150));
    expect(over.structuredContent.error.code).toBe('cap_per_customer_per_day');
    expect(over.structuredContent.error.message).toMatch(/300 points per 24 h.*100 left/);
    // Another customer has their own allowance.
    expect(
      (await call(m.client, 'redeem_points', { customer: { mobile: '919000000002' }, points: 150 })).isError,
    ).toBeFalsy();
    await m.close();
    const m2 = await server(env);
    const after = await call(m2.client, 'redeem_points', args(101));
    expect(after.structuredContent.error.code).toBe('cap_per_customer_per_day');
    expect((await call(m2.client, 'redeem_points', args(100))).isError).toBeFalsy();
    expect(fake.count('POST', REDEEM)).toBe(3);
  });

  it('CAPILLARY_PROGRAM_ID pins the program: another program_id is refused, none means the pinned one', async () => {
    const fake = await fakeWith(dedupingRedeem().route);
    const m = await server(liveEnv(fake.url, { CAPILLARY_PROGRAM_ID: '973' }));
    const r = await call(m.client, 'redeem_points', args(5, { program_id: '974' }));
    expect(r.structuredContent.error).toMatchObject({ code: 'program_not_allowed', field: 'program_id' });
    await call(m.client, 'redeem_points', args(5));
    expect(fake.requests[0].query.program_id).toBe('973');
  });
});

describe('human confirmation through elicitation', () => {
  const withAnswer = async (
    answer: 'accept' | 'decline' | 'cancel' | 'accept-unticked',
    env: Record<string, string>,
  ) => {
    const m = await server(env, { capabilities: { elicitation: {} } });
    const asked: string[] = [];
    m.client.setRequestHandler(ElicitRequestSchema, async (req) => {
      asked.push((req.params as any).message);
      if (answer === 'accept') return { action: 'accept', content: { confirm: true } };
      if (answer === 'accept-unticked') return { action: 'accept', content: { confirm: false } };
      return { action: answer };
    });
    return { m, asked };
  };

  it('accept: above the threshold the human is asked, with customer and points, and the call proceeds', async () => {
    const fake = await fakeWith(dedupingRedeem().route);
    const { m, asked } = await withAnswer(
      'accept',
      liveEnv(fake.url, { CAPILLARY_CONFIRM_ABOVE_POINTS: '100' }),
    );
    expect((await call(m.client, 'redeem_points', args(50))).isError).toBeFalsy();
    expect(asked.length).toBe(0);
    const r = await call(m.client, 'redeem_points', args(500));
    expect(r.isError).toBeFalsy();
    expect(asked[0]).toMatch(/Redeem 500 points from customer mobile 919000000001/);
    expect(fake.count('POST', REDEEM)).toBe(2);
  });

  it.each(['decline', 'cancel', 'accept-unticked'] as const)('%s: nothing is sent', async (answer) => {
    const fake = await fakeWith(dedupingRedeem().route);
    const { m } = await withAnswer(answer, liveEnv(fake.url, { CAPILLARY_CONFIRM_ABOVE_POINTS: '100' }));
    const r = await call(m.client, 'redeem_points', args(500));
    expect(r.structuredContent.error.code).toMatch(/^confirmation_(declined|cancelled)$/);
    expect(r.structuredContent.error.outcome).toBe('not_sent');
    expect(fake.requests.length).toBe(0);
  });

  it('a client that cannot elicit gets a clear refusal; there is no confirm argument to forge', async () => {
    const fake = await fakeWith(dedupingRedeem().route);
    const m = await server(liveEnv(fake.url, { CAPILLARY_CONFIRM_ABOVE_POINTS: '100' }));
    const r = await call(m.client, 'redeem_points', args(500));
    expect(r.structuredContent.error).toMatchObject({
      code: 'confirmation_unavailable',
      source: 'safety',
      outcome: 'not_sent',
    });
    const forged = await call(m.client, 'redeem_points', args(500, { confirm: true }));
    expect(forged.structuredContent.error.source).toBe('validation');
    expect(fake.requests.length).toBe(0);
  });
});

describe('least privilege', () => {
  const names = async (env: Record<string, string>) => {
    const m = await server(env);
    return (await m.client.listTools()).tools.map((t) => t.name).sort();
  };
  it('read-only lists only tools annotated readOnlyHint, and wins over the allow-list', async () => {
    const m = await server(
      liveEnv('http://127.0.0.1:9', { CAPILLARY_READ_ONLY: 'true', CAPILLARY_TOOLS: 'redeem_points' }),
    );
    const { tools } = await m.client.listTools();
    expect(tools.every((t) => t.annotations?.readOnlyHint === true)).toBe(true);
    expect(tools.map((t) => t.name)).not.toContain('redeem_points');
    const r = await call(m.client, 'redeem_points', args(5));
    expect(r.structuredContent.error.code).toBe('unknown_tool');
  });
  it('allow- and deny-lists shape tools/list', async () => {
    expect(
      await names(liveEnv('http://127.0.0.1:9', { CAPILLARY_TOOLS: 'redeem_points,update_redemption' })),
    ).toEqual(['redeem_points', 'update_redemption']);
    const denied = await names(liveEnv('http://127.0.0.1:9', { CAPILLARY_EXCLUDE_TOOLS: 'redeem_points' }));
    expect(denied).not.toContain('redeem_points');
    expect(denied).toContain('update_redemption');
  });
  it('an unknown tool name is a start-up error', async () => {
    await expect(
      connectStdio(liveEnv('http://127.0.0.1:9', { CAPILLARY_TOOLS: 'redeem_pointz' })),
    ).rejects.toThrow();
  });
});

describe('audit log', () => {
  it('one durable JSON line per mutating attempt, arguments redacted', async () => {
    const fake = await fakeWith(dedupingRedeem().route);
    const env = liveEnv(fake.url);
    const m = await server(env);
    await call(m.client, 'redeem_points', args(5));
    await call(m.client, 'redeem_points', args(5));
    await call(m.client, 'redeem_points', args(5, { dry_run: true }));
    const lines = readFileSync(join(env.CAPILLARY_DATA_DIR, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // The attempt is on disk before the request is sent; the outcome follows it.
    expect(lines.map((l) => l.outcome)).toEqual(['attempt', 'succeeded', 'replayed', 'dry_run']);
    expect(lines[1]).toMatchObject({
      tool: 'redeem_points',
      upstream_status: 200,
      environment: 'live',
      arguments: { points: 5 },
    });
    expect(lines[1].idempotency_key).toMatch(/^mcp-rdm-/);
    expect(lines[0].idempotency_key).toBe(lines[1].idempotency_key);
    expect(typeof lines[1].duration_ms).toBe('number');
  });
});

describe('ledger failure', () => {
  it('a ledger that cannot be written means nothing is sent', async () => {
    const { mkdirSync } = await import('node:fs');
    const fake = await fakeWith(dedupingRedeem().route);
    const env = liveEnv(fake.url);
    const m = await server(env);
    // A directory where today's ledger segment should be: the append fails, even as root.
    mkdirSync(join(env.CAPILLARY_DATA_DIR, segmentName(Date.now())));
    const r = await call(m.client, 'redeem_points', args(5));
    expect(r.structuredContent.error).toMatchObject({ code: 'ledger_unavailable', outcome: 'not_sent' });
    expect(fake.requests.length).toBe(0);
    // The server is still up.
    expect((await m.client.listTools()).tools.length).toBeGreaterThan(0);
  });

  it('an unreadable ledger stops the server at start with a clear message', async () => {
    const { mkdirSync } = await import('node:fs');
    const env = liveEnv('http://127.0.0.1:1');
    mkdirSync(join(env.CAPILLARY_DATA_DIR, segmentName(Date.now())), { recursive: true });
    const { spawnSync } = await import('node:child_process');
    const { CLI } = await import('./helpers/mcp.js');
    const p = spawnSync(process.execPath, [CLI], {
      env: { PATH: process.env.PATH, ...env },
      input: '',
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(p.status).toBe(1);
    expect(p.stderr).toMatch(/CAPILLARY_DATA_DIR: cannot read the ledger/);
  });
});

describe('the audit log fails closed', () => {
  it.each(['file', 'memory'])(
    '%s ledger: an audit log that cannot be written means no write is sent; reads still work',
    async (mode) => {
      const { mkdirSync, rmdirSync } = await import('node:fs');
      const fake = await fakeWith(dedupingRedeem().route);
      fake
        .on('PUT', '/v2/points/updateRedemption', { json: { data: { redemptionId: 'r1' }, errors: [] } })
        .on('GET', '/v2/customers/lookup/points/balance', {
          json: { data: { loyaltyPoints: 5 }, errors: [] },
        });
      const env = liveEnv(fake.url, { CAPILLARY_LEDGER: mode });
      // A directory where the audit file should be: opening it fails, even as root.
      mkdirSync(join(env.CAPILLARY_DATA_DIR, 'audit.jsonl'), { recursive: true });
      const m = await server(env);
      for (const [tool, a] of [
        ['redeem_points', args(5)],
        ['update_redemption', { redemption_id: 'r1', purpose: 'p' }],
      ] as const) {
        const r = await call(m.client, tool, a);
        expect(r.structuredContent.error).toMatchObject({
          code: 'audit_unavailable',
          outcome: 'not_sent',
          source: 'config',
          retryable: true,
        });
        expect(r.structuredContent.error.hint).toMatch(/CAPILLARY_AUDIT_LOG/);
      }
      expect(fake.requests.length).toBe(0);
      expect(m.stderr()).toMatch(/audit log unavailable; refusing to send/);
      const read = await call(m.client, 'get_points_balance', {
        identifier_name: 'mobile',
        identifier_value: '919000000001',
      });
      expect(read.structuredContent.balance).toBe(5);
      // Nothing was left behind: once the audit log is writable, the same call goes through once.
      if (mode === 'file')
        expect(
          ledgerFiles(env.CAPILLARY_DATA_DIR).flatMap((f) => readFileSync(f, 'utf8').trim() || []),
        ).toEqual([]);
      rmdirSync(join(env.CAPILLARY_DATA_DIR, 'audit.jsonl'));
      const ok = await call(m.client, 'redeem_points', args(5));
      expect(ok.isError).toBeFalsy();
      expect(fake.count('POST', REDEEM)).toBe(1);
    },
  );
});

describe('dry run makes no network call at all', () => {
  it('a maker-checker dry run in OAuth mode fetches no token and shows the embedded credential redacted', async () => {
    const fake = await new FakeUpstream()
      .on('POST', '/v3/oauth/token/generate', {
        json: { data: { accessToken: 'tok-should-not-be-fetched', ttlSeconds: 300 }, errors: null },
      })
      .start();
    open.push(fake);
    const m = await server(
      liveEnv(fake.url, {
        CAPILLARY_USERNAME: '',
        CAPILLARY_PASSWORD: '',
        CAPILLARY_OAUTH_CLIENT_KEY: 'k',
        CAPILLARY_OAUTH_CLIENT_SECRET: 'oauth-secret-x1',
      }),
    );
    const r = await call(m.client, 'request_points_redemption', {
      entity: { till_id: '1' },
      customer: { mobile: '919000000001' },
      points: 5,
      dry_run: true,
    });
    expect(r.isError).toBeFalsy();
    const task = r.structuredContent.dry_run_request.body.payload['IntouchAPITask-Payload'];
    expect(task.headers['X-CAP-API-OAUTH-TOKEN']).toBe('[REDACTED]');
    expect(r.structuredContent.dry_run_request.headers['X-CAP-API-OAUTH-TOKEN']).toBe('[REDACTED]');
    expect(fake.requests.length).toBe(0);
  });
});
