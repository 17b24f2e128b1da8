import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveEnv } from '../fixtures/canary.js';
import { type Child, closedPort, type HttpChild, spawnHttp, spawnSandbox, tempDir } from '../fixtures/cli.js';
import { redemption as args, type Connected, call, connectHttp, connectStdio } from '../fixtures/clients.js';
import { readLedger } from '../fixtures/data-dir.js';
import {
  dedupingRedeem,
  type FakeCapillary,
  REDEEM,
  redeemOk,
  redeemRefused,
} from '../fixtures/fake-capillary.js';
import { perTest, sleep } from '../fixtures/lifecycle.js';
import { sandboxEnv } from '../fixtures/sandbox.js';

/**
 * Server-owned idempotency: a money call is spent once whatever happens to it (repeats,
 * concurrency, cancellation, lost answers, timeouts, a kill, another transport), and only
 * requests that processed nothing are retried.
 */

const { server, fakeWith } = perTest();

/** Starts a redemption, and cancels it (the SDK client sends notifications/cancelled) once the upstream has it. */
async function cancelOnceSent(m: Awaited<ReturnType<typeof server>>, fake: FakeCapillary) {
  const ac = new AbortController();
  const first = m.client.callTool({ name: 'redeem_points', arguments: args() }, undefined, {
    signal: ac.signal,
  });
  for (let t = 0; t < 100 && fake.count('POST', REDEEM) === 0; t++) await sleep(10);
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
    await sleep(500); // the upstream answers meanwhile
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
    await sleep(400);
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
    const entries = readLedger(dir.CAPILLARY_DATA_DIR);
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
    expect(a.structuredContent.error).toMatchObject({ code: '803', outcome: 'failed' });
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
    while (fake.count('POST', REDEEM) < 1) await sleep(10);
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
  it('429 with Retry-After is retried; without it, it is reported (unknown: a bare 429 proves nothing)', async () => {
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
    expect(r.structuredContent.error).toMatchObject({
      http_status: 429,
      retryable: true,
      outcome: 'unknown',
    });
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

describe('idempotency across transports: stdio then HTTP, one sandbox, one data dir', () => {
  let sandbox: Child & { url: string };
  let stdio: Connected;
  let http: HttpChild;
  let dataDir: string;

  beforeAll(async () => {
    sandbox = await spawnSandbox();
    dataDir = tempDir('shared-data-');
    const env = sandboxEnv(sandbox.url, dataDir);
    stdio = await connectStdio(env);
    http = await spawnHttp(env);
  });
  afterAll(async () => {
    await stdio?.close();
    await http?.stop();
    await sandbox?.stop();
  });

  it('the same redeem_points over HTTP after stdio is replayed; the balance went down once', async () => {
    const args = { customer: { mobile: '919000000001' }, points: 25, notes: 'cross-transport' };
    const httpClient = await connectHttp(http.url);
    try {
      const bal = async () =>
        (
          await call(httpClient, 'get_points_balance', {
            identifier_name: 'mobile',
            identifier_value: '919000000001',
          })
        ).structuredContent.balance;
      expect(await bal()).toBe(5000);

      const first = await call(stdio.client, 'redeem_points', args);
      expect(first.isError, JSON.stringify(first.structuredContent)).toBeFalsy();
      expect(first.structuredContent.replayed).toBeUndefined();
      expect(first.structuredContent.balance).toBe(4975);

      const second = await call(httpClient, 'redeem_points', args);
      expect(second.isError).toBeFalsy();
      expect(second.structuredContent).toMatchObject({
        replayed: true,
        redemption_id: first.structuredContent.redemption_id,
        idempotency_key: first.structuredContent.idempotency_key,
      });
      expect(await bal()).toBe(4975);

      const ledger = readLedger(dataDir);
      const mine = ledger.filter((e) => e.key === first.structuredContent.idempotency_key);
      expect(mine.filter((e) => e.status === 'succeeded').length).toBeGreaterThanOrEqual(1);
      expect(mine.every((e) => e.status !== 'failed' && e.status !== 'unknown')).toBe(true);
    } finally {
      await httpClient.close();
    }
  });
});
