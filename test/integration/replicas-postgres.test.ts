/**
 * Several replicas, one PostgreSQL ledger: a standalone sandbox (behind a gate that can hold a
 * call in flight), three HTTP servers and one stdio server on one database, clients taken in
 * turn. Money is judged by the sandbox's own count (GET /__sandbox/stats), not by what clients
 * were told. The database is a private cluster of this file's own: one case stops it mid-call.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Child, type HttpChild, spawnCli, spawnHttp, tempDir, waitForStderr } from '../fixtures/cli.js';
import { type Connected, call, connectHttp, connectStdio, raw } from '../fixtures/clients.js';
import { Gate } from '../fixtures/gate.js';
import {
  type ClusterInfo,
  createDatabase,
  pauseCluster,
  pgMissing,
  resumeCluster,
  startCluster,
  stopCluster,
} from '../fixtures/postgres.js';
import { sandboxEnv } from '../fixtures/sandbox.js';

const mobile = (id: number) => `919000000${id}`;
const CUSTOMERS = [201, 202, 203, 204, 205];

interface Stats {
  redemptions: { byCustomer: Record<string, { count: number; points: number }> };
}

describe.skipIf(pgMissing)('replicas on one PostgreSQL ledger', () => {
  let cluster: ClusterInfo;
  let sandbox: Child & { url: string };
  let gate: Gate;
  let env: Record<string, string>;
  const replicas: HttpChild[] = [];
  let stdio: Connected;
  /** Clients in round-robin order: a client of each HTTP replica, the stdio one, and again. */
  const clients: Array<{ client: Client; on: number }> = [];
  const opened: Client[] = [];

  const counted = async (id: number) => {
    const r = await raw(`${sandbox.url}/__sandbox/stats`);
    return (JSON.parse(r.body) as Stats).redemptions.byCustomer[String(id)] ?? { count: 0, points: 0 };
  };

  beforeAll(async () => {
    cluster = await startCluster({ maxConnections: 200 });
    const url = await createDatabase(cluster, 'replicas');
    const dir = tempDir('replicas-');
    const seed = join(dir, 'seed.json');
    writeFileSync(
      seed,
      JSON.stringify({ customers: CUSTOMERS.map((id) => ({ id, mobile: mobile(id), points: 10_000 })) }),
    );
    const sb = spawnCli(['sandbox', '--port', '0', '--seed', seed], {});
    const m = await waitForStderr(sb, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
    sandbox = { ...sb, url: m[1] };
    gate = await new Gate(sandbox.url).start();
    env = {
      ...sandboxEnv(gate.url, ''),
      CAPILLARY_LEDGER_URL: url,
      CAPILLARY_LEDGER_POOL_SIZE: '4',
      CAPILLARY_MAX_POINTS_PER_CUSTOMER_PER_DAY: '100',
      CAPILLARY_TIMEOUT_MS: '5000',
    };
    // Each replica its own data dir (its audit log): they share only the database.
    const started = await Promise.all(
      [0, 1, 2].map((i) => spawnHttp({ ...env, CAPILLARY_DATA_DIR: tempDir(`replica${i}-`) })),
    );
    replicas.push(...started);
    stdio = await connectStdio({ ...env, CAPILLARY_DATA_DIR: tempDir('replica-stdio-') });
    for (let round = 0; round < 2; round++) {
      for (const [i, r] of replicas.entries()) {
        const c = await connectHttp(r.url);
        opened.push(c);
        clients.push({ client: c, on: i });
      }
      clients.push({ client: stdio.client, on: 3 });
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled(opened.map((c) => c.close()));
    await stdio?.close();
    await Promise.allSettled(replicas.map((r) => r.stop()));
    await gate?.close();
    await sandbox?.stop();
    if (cluster) stopCluster(cluster);
  });

  it('identical calls from many clients on every replica spend once', async () => {
    const args = { customer: { mobile: mobile(201) }, points: 7 };
    const results = await Promise.all(
      Array.from({ length: 16 }, (_, i) => call(clients[i % clients.length].client, 'redeem_points', args)),
    );
    for (const r of results) expect(r.isError, JSON.stringify(r.structuredContent)).toBeFalsy();
    const ids = new Set(results.map((r) => r.structuredContent.redemption_id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => !r.structuredContent.replayed).length).toBeLessThanOrEqual(1);
    expect(await counted(201)).toEqual({ count: 1, points: 7 });
  });

  it('conflicting calls for one customer across replicas respect the daily cap exactly', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        call(clients[i % clients.length].client, 'redeem_points', {
          customer: { mobile: mobile(202) },
          points: 10,
          external_reference_number: `cap-${i}`,
        }),
      ),
    );
    const ok = results.filter((r) => !r.isError);
    const refused = results.filter((r) => r.structuredContent?.error?.code === 'cap_per_customer_per_day');
    expect(ok).toHaveLength(10);
    expect(refused).toHaveLength(10);
    expect(await counted(202)).toEqual({ count: 10, points: 100 });
  });

  for (const [id, applied] of [
    [203, true],
    [204, false],
  ] as const)
    it(`kill -9 of a replica mid-call (its request ${applied ? 'applied' : 'lost'} upstream): the repeat on another replica spends once`, async () => {
      const victim = replicas[1];
      const args = { customer: { mobile: mobile(id) }, points: 11 };
      gate.hold((path) => path.startsWith('/v1.1/points/redeem'));
      const victimClient = await connectHttp(victim.url);
      const cut = call(victimClient, 'redeem_points', args).then(
        () => 'answered',
        () => 'cut off',
      );
      await gate.caught();
      victim.proc.kill('SIGKILL');
      await victim.exited;
      expect(await cut).toBe('cut off');
      gate.open(!applied);
      if (applied) {
        const deadline = Date.now() + 10_000;
        while ((await counted(id)).count === 0 && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 50));
      }
      expect((await counted(id)).count).toBe(applied ? 1 : 0);
      // The identical call elsewhere: the dead replica's attempt is re-sent with its key.
      const again = await call(clients[2].client, 'redeem_points', args);
      expect(again.isError, JSON.stringify(again.structuredContent)).toBeFalsy();
      expect(again.structuredContent.note).toMatch(/re-sent with the same external_reference_number/);
      const more = await call(stdio.client, 'redeem_points', args);
      expect(more.structuredContent.replayed).toBe(true);
      expect(await counted(id)).toEqual({ count: 1, points: 11 });
      // The replica comes back on the same database.
      replicas[1] = await spawnHttp({ ...env, CAPILLARY_DATA_DIR: tempDir('replica1b-') });
      const back = await connectHttp(replicas[1].url);
      opened.push(back);
      expect((await call(back, 'redeem_points', args)).structuredContent.replayed).toBe(true);
    });

  it('the database stops mid-call: the outcome is kept and written when it is back; the repeat is replayed, spent once', async () => {
    const args = { customer: { mobile: mobile(205) }, points: 13 };
    const r0 = replicas[0];
    const c0 = clients.find((c) => c.on === 0)!.client;
    gate.hold((path) => path.startsWith('/v1.1/points/redeem'));
    const first = call(c0, 'redeem_points', args);
    await gate.caught();
    pauseCluster(cluster);
    try {
      gate.open();
      // The upstream said yes: the agent is told so, though the outcome is not in the database yet.
      const r = await first;
      expect(r.isError, JSON.stringify(r.structuredContent)).toBeFalsy();
      const hz = await raw(`${r0.url.replace(/\/mcp$/, '')}/healthz`);
      expect(hz.status).toBe(503);
      expect(JSON.parse(hz.body)).toEqual({ status: 'unavailable', ledger: 'unavailable' });
      // Nothing can be decided meanwhile: refused, nothing sent.
      const refused = await call(clients[2].client, 'redeem_points', { ...args, points: 14 });
      expect(refused.structuredContent.error).toMatchObject({
        code: 'ledger_unavailable',
        outcome: 'not_sent',
      });
    } finally {
      resumeCluster(cluster);
    }
    const again = await call(clients[2].client, 'redeem_points', args);
    expect(again.isError, JSON.stringify(again.structuredContent)).toBeFalsy();
    expect(again.structuredContent.replayed).toBe(true);
    expect(await counted(205)).toEqual({ count: 1, points: 13 });
    expect(r0.stderr()).toMatch(/outcome kept while PostgreSQL was away is written/);
  });
});
