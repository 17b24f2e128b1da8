import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { liveEnv } from '../fixtures/canary.js';
import { type HttpChild, spawnHttp } from '../fixtures/cli.js';
import { call, connectHttp, MCP_HEADERS, raw, rpc } from '../fixtures/clients.js';
import { readLedger } from '../fixtures/data-dir.js';
import { FakeCapillary, REDEEM, redeemOk } from '../fixtures/fake-capillary.js';
import { sleep } from '../fixtures/lifecycle.js';

// A confirmation threshold over HTTP needs an authenticated caller.
const TOKEN = 'shutdown-test-token-77c1e0b4';
const AUTH = { authorization: `Bearer ${TOKEN}` };

/**
 * A Capillary whose redemptions answer only after `delayMs` (for a call to be in flight when the
 * server is told to stop); `requests` counts what reached it.
 */
const slowUpstream = (delayMs: number) =>
  new FakeCapillary()
    .on('POST', REDEEM, (req) => ({
      json: redeemOk(String(JSON.parse(req.body).root.redeem[0].points_redeemed), 4990),
      delayMs,
    }))
    .start();

describe('graceful shutdown of the HTTP server', () => {
  let srv: HttpChild | undefined;
  let slow: FakeCapillary | undefined;
  afterEach(async () => {
    await srv?.stop();
    await slow?.close();
    srv = slow = undefined;
  });

  it('SIGTERM with a tool call in flight: the call completes, the ledger has it, exit 0', async () => {
    slow = await slowUpstream(1200);
    srv = await spawnHttp(liveEnv(slow.url, { CAPILLARY_TIMEOUT_MS: '10000' }));
    const client = await connectHttp(srv.url);
    const t0 = Date.now();
    const pending = call(client, 'redeem_points', { customer: { mobile: '919000000001' }, points: 10 });
    await slow.waitFor(() => true);
    srv.proc.kill('SIGTERM');
    // Stopped accepting: a new connection is refused while the call finishes.
    await sleep(200);
    await expect(raw(`http://127.0.0.1:${srv.port}/healthz`)).rejects.toThrow(
      /ECONNREFUSED|ECONNRESET|socket hang up/,
    );

    const r = await pending;
    expect(r.isError, JSON.stringify(r.structuredContent)).toBeFalsy();
    expect(r.structuredContent).toMatchObject({
      redemption_id: 'RDM-1',
      points_redeemed: 10,
      balance: 4990,
    });
    expect(await srv.exited).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1200);
    expect(slow.requests.length).toBe(1);

    const entries = readLedger(srv.dataDir).filter((e) => e.key === r.structuredContent.idempotency_key);
    expect(entries.at(-1)).toMatchObject({ status: 'succeeded', tool: 'redeem_points', points: 10 });
    expect(srv.stderr()).toMatch(/shutting down \(SIGTERM\)/);
    await client.close().catch(() => {});
  });

  it('past MCP_SHUTDOWN_TIMEOUT_MS the connection is cut, yet the outcome still reaches the ledger', async () => {
    slow = await slowUpstream(1500);
    srv = await spawnHttp(
      liveEnv(slow.url, { CAPILLARY_TIMEOUT_MS: '10000', MCP_SHUTDOWN_TIMEOUT_MS: '200' }),
    );
    const client = await connectHttp(srv.url);
    const pending = call(client, 'redeem_points', { customer: { mobile: '919000000001' }, points: 11 }).then(
      (r) => ({ r }),
      (e) => ({ e }),
    );
    await slow.waitFor(() => true);
    srv.proc.kill('SIGTERM');
    expect(await srv.exited).toBe(0);
    expect(srv.stderr()).toMatch(/did not finish in time/);
    // Exited only after the upstream answered: the ledger has the outcome for a replay.
    const entries = readLedger(srv.dataDir).filter((e) => e.tool === 'redeem_points');
    expect(entries.at(-1)).toMatchObject({ status: 'succeeded', points: 11 });
    // The client never got the result (its stream was cut); closing it ends the wait.
    await client.close().catch(() => {});
    expect('e' in (await pending)).toBe(true);
  });

  it('a call waiting on an unanswered confirmation does not hold shutdown past the bound; nothing is sent', async () => {
    slow = await slowUpstream(0);
    srv = await spawnHttp(
      liveEnv(slow.url, {
        CAPILLARY_CONFIRM_ABOVE_POINTS: '100',
        MCP_SHUTDOWN_TIMEOUT_MS: '300',
        MCP_HTTP_TOKEN: TOKEN,
      }),
    );
    const client = await connectHttp(srv.url, { capabilities: { elicitation: {} }, headers: AUTH });
    let asked!: () => void;
    const wasAsked = new Promise<void>((r) => {
      asked = r;
    });
    client.setRequestHandler(ElicitRequestSchema, async () => {
      asked();
      return new Promise(() => {}); // the human never answers
    });
    void call(client, 'redeem_points', { customer: { mobile: '919000000001' }, points: 500 }).catch(() => {});
    await wasAsked;
    const t0 = Date.now();
    srv.proc.kill('SIGTERM');
    expect(await srv.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(slow.requests.length).toBe(0);
    expect(readLedger(srv.dataDir).filter((e) => e.status === 'succeeded')).toHaveLength(0);
    await client.close().catch(() => {});
  });

  it('while a call waits for a human, new work gets 503 but the answer still gets through', async () => {
    slow = await slowUpstream(0);
    srv = await spawnHttp(
      liveEnv(slow.url, { CAPILLARY_CONFIRM_ABOVE_POINTS: '100', MCP_HTTP_TOKEN: TOKEN }),
    );
    const client = await connectHttp(srv.url, { capabilities: { elicitation: {} }, headers: AUTH });
    let asked!: () => void;
    const wasAsked = new Promise<void>((r) => {
      asked = r;
    });
    let answer!: () => void;
    const answered = new Promise<void>((r) => {
      answer = r;
    });
    client.setRequestHandler(ElicitRequestSchema, async () => {
      asked();
      await answered;
      return { action: 'accept', content: { confirm: true } };
    });
    const pending = call(client, 'redeem_points', { customer: { mobile: '919000000001' }, points: 500 });
    await wasAsked;
    srv.proc.kill('SIGTERM');
    await sleep(200);
    const base = `http://127.0.0.1:${srv.port}`;
    const busy = await raw(`${base}/mcp`, {
      method: 'POST',
      headers: { ...MCP_HEADERS, ...AUTH },
      body: rpc('tools/list'),
    });
    expect(busy.status).toBe(503);
    expect(JSON.parse(busy.body)).toMatchObject({ error: { code: -32000 }, id: null });
    const hz = await raw(`${base}/healthz`);
    expect(hz.status).toBe(503);
    expect(JSON.parse(hz.body)).toEqual({ status: 'draining' });
    answer();
    const r = await pending;
    expect(r.isError, JSON.stringify(r.structuredContent)).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ points_redeemed: 500 });
    expect(await srv.exited).toBe(0);
    expect(slow.requests.length).toBe(1);
    await client.close().catch(() => {});
  });

  it('SIGINT on an idle server exits 0 at once', async () => {
    srv = await spawnHttp();
    const t0 = Date.now();
    srv.proc.kill('SIGINT');
    expect(await srv.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});
