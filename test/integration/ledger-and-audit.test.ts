import { mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { segmentName } from '../../src/safety/ledger.js';
import { liveEnv } from '../fixtures/canary.js';
import { runCli } from '../fixtures/cli.js';
import { redemption as args, call } from '../fixtures/clients.js';
import { readAudit, readLedger } from '../fixtures/data-dir.js';
import { dedupingRedeem } from '../fixtures/fake-capillary.js';
import { perTest } from '../fixtures/lifecycle.js';

/** What the server records (the audit log) and what it does when its ledger fails. */

const { server, fakeWith } = perTest();

describe('audit log', () => {
  it('one durable JSON line per mutating attempt, arguments redacted', async () => {
    const fake = await fakeWith(dedupingRedeem().route);
    const env = liveEnv(fake.url);
    const m = await server(env);
    await call(m.client, 'redeem_points', args(5));
    await call(m.client, 'redeem_points', args(5));
    await call(m.client, 'redeem_points', args(5, { dry_run: true }));
    const lines = readAudit(env.CAPILLARY_DATA_DIR);
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

describe('the audit log fails closed', () => {
  it.each(['file', 'memory'])(
    '%s ledger: an audit log that cannot be written means no write is sent; reads still work',
    async (mode) => {
      const fake = await fakeWith(dedupingRedeem().route);
      fake
        .on('PUT', '/v2/points/updateRedemption', { json: { data: { redemptionId: 'r1' }, errors: [] } })
        .on('GET', '/v2/customers/lookup/points/balance', {
          json: { data: { loyaltyPoints: 5 }, errors: [] },
        });
      const env = liveEnv(fake.url, { CAPILLARY_LEDGER: mode });
      // A directory where the audit file should be: opening it fails, even as root.
      const auditPath = join(env.CAPILLARY_DATA_DIR, 'audit.jsonl');
      mkdirSync(auditPath, { recursive: true });
      const m = await server(env);
      for (const [tool, a] of [
        ['redeem_points', args(5)],
        ['update_redemption', { redemption_id: 'r1', purpose: 'p' }],
      ] as const) {
        const r = await call(m.client, tool, a);
        expect(r.structuredContent.error, tool).toMatchObject({
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
      // Nothing was left in the way: once the audit log is writable, the same call goes through
      // once (in file mode the attempt was settled as not sent, so its key stays usable).
      if (mode === 'file') {
        const last = new Map(readLedger(env.CAPILLARY_DATA_DIR).map((e) => [e.key, e]));
        expect([...last.values()].map((e) => [e.status, e.error?.code, e.error?.outcome])).toEqual([
          ['failed', 'audit_unavailable', 'not_sent'],
        ]);
      }
      rmdirSync(auditPath);
      const ok = await call(m.client, 'redeem_points', args(5));
      expect(ok.isError, JSON.stringify(ok.structuredContent)).toBeFalsy();
      expect(fake.count('POST', '/v1.1/points/redeem')).toBe(1);
    },
  );
});

describe('ledger failure', () => {
  it('a ledger that cannot be written means nothing is sent', async () => {
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
    const env = liveEnv('http://127.0.0.1:1');
    mkdirSync(join(env.CAPILLARY_DATA_DIR, segmentName(Date.now())), { recursive: true });
    const p = await runCli([], env);
    expect(p.status).toBe(1);
    expect(p.stderr).toMatch(/CAPILLARY_DATA_DIR: cannot read the ledger/);
  });
});
