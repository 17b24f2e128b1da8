import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { segmentName } from '../../src/safety/ledger.js';
import { liveEnv } from '../fixtures/canary.js';
import { runCli } from '../fixtures/cli.js';
import { redemption as args, call } from '../fixtures/clients.js';
import { readAudit } from '../fixtures/data-dir.js';
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
    expect(lines.map((l) => l.outcome)).toEqual(['succeeded', 'replayed', 'dry_run']);
    expect(lines[0]).toMatchObject({
      tool: 'redeem_points',
      upstream_status: 200,
      environment: 'live',
      arguments: { points: 5 },
    });
    expect(lines[0].idempotency_key).toMatch(/^mcp-rdm-/);
    expect(typeof lines[0].duration_ms).toBe('number');
  });
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
