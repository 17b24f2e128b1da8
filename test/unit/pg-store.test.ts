/**
 * What only the PostgreSQL ledger has: migrations (versioned, idempotent, replicas starting at
 * once), start-up failures said clearly (password never printed), retention, indexed reads, and
 * the faults of a database that goes away and comes back. Against a real private server; the
 * fault tests stop and start a cluster of their own, not the run's shared one.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import { runOperatorCli } from '../../src/operator-cli.js';
import type { LedgerEntry } from '../../src/safety/ledger.js';
import { freedSql, MIGRATIONS, SPENT_SQL, VIEW_SQL, viewSql } from '../../src/safety/pg-schema.js';
import { PgStore } from '../../src/safety/pg-store.js';
import { inline } from '../../src/safety/pg-view.js';
import { decide, type ReserveAsk } from '../../src/safety/reserve.js';
import { closedPort, runCli, tempDir } from '../fixtures/cli.js';
import {
  type ClusterInfo,
  clusterUrl,
  createDatabase,
  pauseCluster,
  pgMissing,
  resumeCluster,
  sharedCluster,
  startCluster,
  stopCluster,
} from '../fixtures/postgres.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
/** VIEW_SQL's parameters ($1..$15) for customer id:1, with the view's four switches. */
const viewArgs = (
  now: number,
  on: { caps?: boolean; server?: boolean; confirm?: boolean; codes?: boolean } = {},
) => {
  const [day, hour] = [now - DAY, now - HOUR];
  const sw = [!!on.caps, !!on.server, !!on.confirm];
  return ['k1', 'fp', 'm', ['id:1', 'mobile:1'], day, 'id:1', day, ...sw, day, hour, !!on.codes, hour, 'q-1'];
};
const open = (url: string, extra: Partial<Parameters<typeof PgStore.open>[0]> = {}) =>
  PgStore.open({ target: { connectionString: url }, purgeEveryMs: 0, timeoutMs: 10_000, ...extra });

const entry = (key: string, status: LedgerEntry['status'], over: Partial<LedgerEntry> = {}): LedgerEntry => ({
  key,
  fingerprint: `fp-${key}`,
  meaning: `m-${key}`,
  tool: 'redeem_points',
  customer: 'id:1',
  points: 10,
  status,
  at: Date.now(),
  updated: Date.now(),
  agent_key: false,
  ...over,
});

let n = 0;
const ask = (over: Partial<ReserveAsk> = {}): ReserveAsk => ({
  tool: 'redeem_points',
  fingerprint: `fp-${++n}`,
  meaning: `m-${n}`,
  customer: `id:${n}`,
  ids: [`id:${n}`],
  points: 10,
  keyPrefix: 'mcp-rdm',
  resendable: true,
  now: Date.now(),
  windowMs: DAY,
  limits: {},
  owner: 'pg-test:1:x',
  live: () => false,
  ...over,
});

async function startupFailure(p: Promise<unknown>): Promise<string> {
  try {
    const s = (await p) as PgStore;
    await s.close();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected the start to fail');
}

describe.skipIf(pgMissing)('PostgreSQL ledger', () => {
  let cluster: ClusterInfo;
  beforeAll(async () => {
    cluster = await sharedCluster();
  }, 60_000);

  it('migrates once when several replicas start together, and again finds nothing to do', async () => {
    const url = await createDatabase(cluster, 'migrate');
    const logs: string[] = [];
    const stores = await Promise.all(
      Array.from({ length: 4 }, () => open(url, { log: (_l, m) => logs.push(m) })),
    );
    const versions = await stores[0].pool.query('SELECT version FROM capillary_schema ORDER BY version');
    expect(versions.rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
    // Applied by exactly one of them.
    expect(logs.filter((m) => m.includes('migrated to version 1'))).toHaveLength(1);
    await Promise.all(stores.map((s) => s.close()));
    const again = await open(url, { log: (_l, m) => logs.push(m) });
    expect(logs.filter((m) => m.includes('migrated'))).toHaveLength(MIGRATIONS.length);
    await again.close();
  });

  it('start-up fails clearly on a wrong password, an unreachable server, a missing database; never printing the password', async () => {
    const wrong = 'Wr0ng-Secret-Pw';
    const msg = await startupFailure(open(clusterUrl(cluster, 'postgres', wrong)));
    expect(msg).toMatch(
      /refused the ledger's credentials.*password authentication failed for user "postgres"/,
    );
    expect(msg).toContain(`postgres@127.0.0.1:${cluster.port}/postgres`);
    expect(msg).not.toContain(wrong);
    expect(msg).not.toContain(cluster.password);

    const port = await closedPort();
    const down = await startupFailure(
      open(`postgres://postgres:${cluster.password}@127.0.0.1:${port}/x`, { timeoutMs: 2000 }),
    );
    expect(down).toMatch(
      new RegExp(`cannot reach the PostgreSQL ledger at postgres@127.0.0.1:${port}/x \\(ECONNREFUSED\\)`),
    );
    expect(down).not.toContain(cluster.password);

    const missing = await startupFailure(open(clusterUrl(cluster, 'no_such_db')));
    expect(missing).toMatch(/database "no_such_db" does not exist; create it/);
  });

  it('the server (stdio and HTTP) will not start on a wrong password: exit 1, one clear line, no password', async () => {
    const wrong = 'Wr0ng-Cli-Pw-77';
    const env = {
      CAPILLARY_LEDGER_URL: clusterUrl(cluster, 'postgres', wrong),
      CAPILLARY_DATA_DIR: tempDir('cli-'),
    };
    for (const args of [[], ['--http', '--port', '0']]) {
      const r = await runCli(args, env);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(
        /refused the ledger's credentials \(password authentication failed for user "postgres"\)/,
      );
      expect(r.stderr).not.toContain(wrong);
      expect(r.stderr).not.toContain(cluster.password);
    }
  });

  it('retention: settled entries past the horizon are purged; unsettled ones stay at any age', async () => {
    const url = await createDatabase(cluster, 'purge');
    const s = await open(url, { horizonMs: DAY });
    const old = Date.now() - 3 * DAY;
    await s.put(entry('old-ok', 'succeeded', { at: old, updated: old }));
    await s.put(entry('old-failed', 'failed', { at: old, updated: old }));
    await s.put(entry('old-unknown', 'unknown', { at: old, updated: old }));
    await s.put(entry('old-pending', 'pending', { at: old, updated: old }));
    const fresh = entry('new-ok', 'succeeded');
    await s.put(fresh);
    expect(await s.purge()).toBe(2);
    const left = await s.pool.query('SELECT key FROM capillary_ledger ORDER BY key');
    expect(left.rows.map((r) => r.key)).toEqual(['new-ok', 'old-pending', 'old-unknown']);
    // The running sums of buckets no window reads go too; today's stay.
    const sums = await s.pool.query(
      'SELECT bucket::float8 * 600000 AS at, spent::float8 FROM capillary_sums',
    );
    expect(sums.rows).toEqual([{ at: Math.floor(fresh.at / 600_000) * 600_000, spent: 10_000 }]);
    expect(await s.purge()).toBe(0);
    await s.close();
  });

  it('identities with quotes, backslashes and SQL in them are data, written and read back exactly', async () => {
    const url = await createDatabase(cluster, 'literal');
    const s = await open(url);
    try {
      const odd = "id:o'brien\\x'); DROP TABLE capillary_ledger; --é€😀";
      const a = ask({ customer: odd, ids: [odd, "email:a'b@example.com"], agentKey: "k'\\1" });
      const d = await s.reserve((v) => decide(v, a), a);
      expect(d).toMatchObject({ kind: 'send', entry: { customer: odd, key: "k'\\1" } });
      expect((await s.byKey("k'\\1"))?.customer).toBe(odd);
      const other = ask({ customer: 'id:x', ids: ["email:a'b@example.com"] });
      expect(await s.peek((v) => decide(v, { ...other, live: () => true }), other)).toMatchObject({
        kind: 'wait',
      });
    } finally {
      await s.close();
    }
  });

  it('a connection cut while committing: refused, retried not, and nothing is left pending', async () => {
    const url = await createDatabase(cluster, 'cut');
    const s = await open(url, { name: 'cut-me' });
    const admin = await open(url);
    try {
      // Inserts from this store's connections stall, so the commit round trip can be cut.
      await admin.pool.query(`CREATE FUNCTION stall() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF current_setting('application_name') = 'cut-me' THEN PERFORM pg_sleep(5); END IF; RETURN NEW; END $$`);
      await admin.pool.query(
        'CREATE TRIGGER stall BEFORE INSERT ON capillary_ledger FOR EACH ROW EXECUTE FUNCTION stall()',
      );
      const a = ask();
      const p = s
        .reserve((v) => decide(v, a), a)
        .then(
          () => 'sent',
          (e) => String((e as { code?: string }).code),
        );
      await new Promise((r) => setTimeout(r, 400));
      const killed = await admin.pool.query(
        `SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE application_name = 'cut-me' AND query LIKE 'INSERT%'`,
      );
      expect(Number(killed.rows[0].n)).toBe(1);
      expect(await p).toBe('57P01');
      expect(await admin.unresolvedAll()).toEqual([]);
      // The attempt this replica could not confirm is ended once the database answers (here: it never landed).
      await admin.pool.query('DROP TRIGGER stall ON capillary_ledger');
      const b = ask({ customer: a.customer, ids: a.ids });
      expect((await s.reserve((v) => decide(v, b), b)).kind).toBe('send');
      expect(s.backlog).toBe(0);
    } finally {
      await s.close();
      await admin.close();
    }
  });

  it("the operator's unresolved and settle work on the database", async () => {
    const url = await createDatabase(cluster, 'operator');
    const s = await open(url);
    const dir = tempDir('operator-');
    const env = { CAPILLARY_LEDGER_URL: url, CAPILLARY_DATA_DIR: dir };
    try {
      await s.put(entry('k-open', 'unknown'));
      let out = '';
      await runOperatorCli(['unresolved'], env, (t) => {
        out += t;
      });
      expect(out).toContain('k-open');
      await runOperatorCli(
        ['settle', '--key', 'k-open', '--as', 'applied', '--by', 'ops', '--reason', 'balance moved'],
        env,
        () => {},
      );
      expect((await s.byKey('k-open'))?.status).toBe('succeeded');
      expect(await s.unresolvedAll()).toEqual([]);
      expect(readFileSync(join(dir, 'audit.jsonl'), 'utf8')).toContain('settled_applied');
    } finally {
      await s.close();
    }
  });

  it("what an entry carries from the API passes the server's redactor before it is written", async () => {
    const url = await createDatabase(cluster, 'door');
    const secret = 'tok-9f8e7d6c5b4a';
    const redactor = {
      value: <T>(v: T): T =>
        JSON.parse(
          JSON.stringify(v ?? null)
            .split(secret)
            .join('[redacted]'),
        ),
    };
    const s = await open(url, { redactor });
    try {
      await s.put(entry('door-1', 'pending', { customer: 'id:door' }));
      await s.settle(
        entry('door-1', 'succeeded', { customer: 'id:door', result: { echo: `Bearer ${secret}` } }),
      );
      const raw = await s.pool.query('SELECT entry::text AS t FROM capillary_ledger');
      expect(raw.rows.map((r) => r.t).join('\n')).not.toContain(secret);
      expect((await s.byKey('door-1'))?.result).toEqual({ echo: 'Bearer [redacted]' });
    } finally {
      await s.close();
    }
  });

  it("a customer's running sums (buckets plus the edge bucket's rows) agree with a scan of the rows, through outcomes, re-sends and purges", async () => {
    const url = await createDatabase(cluster, 'sums');
    const s = await open(url, { horizonMs: DAY });
    const now = Date.now();
    const customers = ['id:a', 'id:b'];
    const op = fc.oneof(
      fc.record({
        t: fc.constant('put' as const),
        customer: fc.constantFrom(...customers),
        code: fc.boolean(),
        points: fc.integer({ min: 0, max: 50_000 }).map((p) => p / 1000),
        moved: fc.option(fc.oneof(fc.integer({ min: 0, max: 50 }), fc.constant('all' as const)), {
          nil: undefined,
        }),
        status: fc.constantFrom('pending', 'succeeded', 'failed', 'unknown') as fc.Arbitrary<
          LedgerEntry['status']
        >,
        ago: fc.integer({ min: 0, max: 30 * 60 }),
      }),
      fc.record({
        t: fc.constant('settle' as const),
        pick: fc.nat(),
        status: fc.constantFrom('succeeded', 'failed', 'unknown') as fc.Arbitrary<LedgerEntry['status']>,
      }),
      // A re-send: the same attempt, at the time of its latest send.
      fc.record({ t: fc.constant('resend' as const), pick: fc.nat(), ago: fc.integer({ min: 0, max: 60 }) }),
      fc.constant({ t: 'purge' as const }),
    );
    let run = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(op, { maxLength: 30 }),
          fc.array(fc.record({ pick: fc.nat(), delta: fc.integer({ min: -12, max: 12 }) }), { maxLength: 4 }),
          async (ops, starts) => {
            const tag = `r${++run}`;
            const written: LedgerEntry[] = [];
            for (const o of ops) {
              if (o.t === 'put') {
                const at = now - o.ago * 60_000;
                const e = entry(`${tag}-${written.length}`, o.status, {
                  customer: `${o.customer}-${tag}`,
                  points: o.code ? 0 : o.points,
                  at,
                  updated: at,
                  ...(o.code ? { kind: 'code' as const, status: 'succeeded' as const } : {}),
                  ...(o.moved !== undefined && !o.code ? { moved: o.moved } : {}),
                });
                await s.put(e);
                written.push(e);
              } else if (o.t === 'purge') await s.purge();
              else if (written.length) {
                const i = o.pick % written.length;
                const e = written[i];
                const next =
                  o.t === 'settle'
                    ? { ...e, status: o.status, updated: now }
                    : { ...e, status: 'pending' as const, at: now - o.ago * 60_000 };
                await s.settle(next);
                written[i] = next;
              }
            }
            // The running sums are exactly what the rows add up to, bucket by bucket.
            const drift = await s.pool.query(
              `SELECT coalesce(a.customer, b.customer) AS customer FROM capillary_sums a
             FULL JOIN (SELECT (x).customer, (x).bucket, sum((x).spent) AS spent, sum((x).moved) AS moved,
                 sum((x).moved_all) AS moved_all, sum((x).codes) AS codes
               FROM (SELECT capillary_sums_of(l) AS x FROM capillary_ledger l) y WHERE x IS NOT NULL GROUP BY 1, 2) b
             ON a.customer = b.customer AND a.bucket = b.bucket
             WHERE (a.customer IS NULL OR b.customer IS NULL OR (a.spent, a.moved, a.moved_all, a.codes)
               IS DISTINCT FROM (b.spent, b.moved, b.moved_all, b.codes))
               AND NOT (b.customer IS NULL AND a.spent = 0 AND a.moved = 0 AND a.moved_all = 0 AND a.codes = 0)`,
            );
            expect(drift.rows).toEqual([]);
            // And a decision's sums, from any window start, are the scan's.
            // Window starts near the entries' times: in their bucket, just before and after.
            for (const c of customers.map((x) => `${x}-${tag}`))
              for (const since of [
                now - DAY,
                ...starts.map(
                  (w) => (written.length ? written[w.pick % written.length].at : now) + w.delta * 60_000,
                ),
              ]) {
                const view = await s.pool.query(VIEW_SQL, [
                  null,
                  null,
                  null,
                  [c],
                  now - DAY,
                  c,
                  since,
                  true,
                  false,
                  true,
                  since,
                  since,
                  true,
                  since,
                  null,
                ]);
                const got = Object.fromEntries(
                  view.rows.filter((r) => 'svVc'.includes(r.why)).map((r) => [r.why, Number(r.n)]),
                );
                const scan = await s.pool.query(
                  `SELECT
                   coalesce(sum(round((points * 1000)::numeric)) FILTER (WHERE kind IS NULL AND status <> 'failed'), 0)::float8 AS s,
                   coalesce(sum(round((coalesce(moved, points) * 1000)::numeric))
                     FILTER (WHERE kind IS NULL AND status <> 'failed' AND NOT moved_all), 0)::float8 AS v,
                   count(*) FILTER (WHERE kind IS NULL AND status <> 'failed' AND moved_all)::float8 AS "V",
                   count(*) FILTER (WHERE kind = 'code')::float8 AS c
                 FROM capillary_ledger WHERE customer = $1 AND at >= $2`,
                  [c, since],
                );
                const want = scan.rows[0];
                expect(got).toEqual({ s: want.s, v: want.v, V: want.V, c: want.c });
              }
          },
        ),
        { numRuns: 25 },
      );
    } finally {
      await s.close();
    }
  });

  it('the view without the parts its switches turn off reads the same rows as the whole view', async () => {
    const url = await createDatabase(cluster, 'parts');
    const s = await open(url);
    try {
      const now = Date.now();
      // Money attempts (pending, succeeded, failed, a reversal of "all"), answers (yes and no,
      // one of them the question q-1), validation codes: every part of the view has rows.
      await s.pool.query(
        `INSERT INTO capillary_ledger (key, fingerprint, meaning, customer, idents, status, points, at, updated, entry, kind, moved_all, approval, answer)
         SELECT CASE WHEN g = 7 THEN 'q-1' ELSE 'k' || g END, 'fp', 'm', 'id:1', ARRAY['id:1', 'mobile:1'],
           (ARRAY['pending', 'succeeded', 'failed', 'unknown'])[1 + g % 4], g, $1::bigint - g * 60000, $1::bigint,
           json_build_object('key', 'k' || g), (ARRAY[NULL, 'code', 'answer'])[1 + g % 3], g % 5 = 0,
           CASE WHEN g % 3 = 0 THEN 'q-1' END,
           CASE WHEN g % 3 = 2 THEN (ARRAY['accept', 'decline'])[1 + g % 2] END
         FROM generate_series(1, 40) AS g`,
        [now],
      );
      for (let bits = 0; bits < 16; bits++) {
        const [caps, server, confirm, codes] = [1, 2, 4, 8].map((b) => (bits & b) !== 0);
        const params = viewArgs(now, { caps, server, confirm, codes });
        const sql = viewSql(params);
        // A part switched off is not in the statement at all.
        expect(sql.includes("'S'")).toBe(server);
        expect(sql.includes("'c'")).toBe(codes);
        const rows = async (q: string) =>
          (await s.pool.query(inline(q, params))).rows.map((r) => JSON.stringify(r)).sort();
        const whole = await rows(VIEW_SQL);
        expect(whole.length).toBeGreaterThan(3);
        expect(await rows(sql)).toEqual(whole);
      }
    } finally {
      await s.close();
    }
  });

  it('the newest attempt by fingerprint and by meaning is one index range, before any ANALYZE', async () => {
    // A young table has no statistics until autovacuum's first ANALYZE: the planner then took
    // the money rows by time and filtered the whole day for the fingerprint (and the meaning),
    // a cost that grew with every entry (issue 16's throughput at c=64).
    const url = await createDatabase(cluster, 'nostats');
    const s = await open(url);
    const c = await s.pool.connect();
    try {
      await c.query('ALTER TABLE capillary_ledger SET (autovacuum_enabled = off)');
      const now = Date.now();
      await c.query(
        `INSERT INTO capillary_ledger (key, fingerprint, meaning, customer, idents, status, points, at, updated, entry)
         SELECT 'k' || g, md5('f' || g), md5('m' || g), 'id:' || (g % 80), ARRAY['id:' || (g % 80)],
           'succeeded', 1, $1::bigint + g, $1::bigint + g, '{}' FROM generate_series(1, 3000) AS g`,
        [now - HOUR],
      );
      const never = await c.query(
        "SELECT last_analyze IS NULL AND last_autoanalyze IS NULL AS v FROM pg_stat_user_tables WHERE relname = 'capillary_ledger'",
      );
      expect(never.rows[0].v).toBe(true);
      const params = viewArgs(now);
      // As the store sends it: parameters written in as literals.
      const plan = (await c.query(`EXPLAIN ${inline(VIEW_SQL, params)}`)).rows
        .map((x) => x['QUERY PLAN'])
        .join('\n');
      expect(plan).toMatch(/Index Cond: \(\(fingerprint = /);
      expect(plan).toMatch(/Index Cond: \(\(meaning = /);
      expect(plan).not.toMatch(/Filter: \((fingerprint|meaning) = /);
    } finally {
      c.release();
      await s.close();
    }
  });

  it('a decision reads only through indexes: no sequential scan of the ledger', async () => {
    const url = await createDatabase(cluster, 'plan');
    const s = await open(url);
    const c = await s.pool.connect();
    try {
      // With sequential scans priced out, a query that needs one still shows it in its plan.
      await c.query('SET enable_seqscan = off');
      const now = Date.now();
      const plans: string[] = [];
      for (const [sql, params] of [
        // Every part of the view read at once (caps, the per-server cap, confirmation, codes).
        [
          VIEW_SQL,
          [
            'k',
            'fp',
            'm',
            ['id:1', 'mobile:1'],
            now - DAY,
            'id:1',
            now - DAY,
            true,
            true,
            true,
            now - DAY,
            now - HOUR,
            true,
            now - HOUR,
            'q-1',
          ],
        ],
        [SPENT_SQL, ['id:1', now - DAY]],
        ...(['spent', 'moved', 'codes'] as const).map((m) => [freedSql(m), ['id:1', now - DAY, 5]] as const),
      ] as const) {
        const r = await c.query(`EXPLAIN ${sql}`, params as unknown as unknown[]);
        plans.push(r.rows.map((x) => x['QUERY PLAN']).join('\n'));
      }
      for (const p of plans) expect(p).not.toMatch(/Seq Scan/);
      expect(plans[0]).toMatch(/capillary_ledger_open/);
      for (const i of ['open', 'customer_at', 'declines']) expect(plans[0]).toMatch(`capillary_ledger_${i}`);
      // A customer's sums: the running sums' buckets by their key, not the customer's whole day.
      expect(plans[0]).toMatch(/capillary_sums_pkey/);
      // The sums and the walk of a window: a range of an index bounded by the window's start
      // (on an empty table the planner may take the customer's index or the money rows' by time).
      for (const p of plans.slice(1)) expect(p).toMatch(/Index Cond: \(.*at >= /);
    } finally {
      c.release();
      await s.close();
    }
  });
});

describe.skipIf(pgMissing)('PostgreSQL ledger faults (a cluster of its own, stopped and started)', () => {
  let own: ClusterInfo;
  let url: string;
  beforeAll(async () => {
    own = await startCluster({ maxConnections: 50 });
    url = await createDatabase(own, 'faults');
  }, 60_000);
  afterAll(() => {
    if (own) stopCluster(own);
  });

  it('a stopped database: reserve rejects (nothing to send), health says so; once back, both work', async () => {
    const s = await open(url, { timeoutMs: 1500 });
    try {
      expect(await s.health()).toEqual({ ok: true });
      pauseCluster(own);
      const a = ask();
      await expect(s.reserve((v) => decide(v, a), a)).rejects.toThrow();
      await new Promise((r) => setTimeout(r, 1100)); // past the health cache
      expect((await s.health()).ok).toBe(false);
      resumeCluster(own);
      await new Promise((r) => setTimeout(r, 1100));
      expect(await s.health()).toEqual({ ok: true });
      const b = ask();
      expect((await s.reserve((v) => decide(v, b), b)).kind).toBe('send');
    } finally {
      await s.close();
    }
  });

  it('an outcome that cannot be written while the database is away is kept and written once it is back', async () => {
    const s = await open(url, { timeoutMs: 1500 });
    const other = await open(url);
    try {
      const a = ask({ customer: 'id:kept', ids: ['id:kept'] });
      const d = await s.reserve((v) => decide(v, a), a);
      if (d.kind !== 'send') throw new Error('expected a send');
      pauseCluster(own);
      await expect(
        s.settle({ ...d.entry, status: 'succeeded', updated: Date.now(), result: { x: 1 } }),
      ).rejects.toThrow();
      expect(s.backlog).toBe(1);
      resumeCluster(own);
      // Written in the background (or before this process's next decision), not lost.
      const deadline = Date.now() + 20_000;
      let seen: LedgerEntry | undefined;
      while (Date.now() < deadline) {
        seen = await other.byKey(d.entry.key).catch(() => undefined);
        if (seen?.status === 'succeeded') break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(seen?.status).toBe('succeeded');
      expect(s.backlog).toBe(0);
    } finally {
      await s.close();
      await other.close();
    }
  });

  it('a restart between decisions: the next look and the next reserve get fresh connections and go through', async () => {
    const looker = await open(url, { timeoutMs: 3000 });
    const writer = await open(url, { timeoutMs: 3000 });
    try {
      const a = ask();
      expect((await writer.reserve((v) => decide(v, a), a)).kind).toBe('send');
      expect((await looker.peek((v) => decide(v, a), a)).kind).toBe('send');
      pauseCluster(own);
      resumeCluster(own);
      // Each pooled connection died with the old server: each step is tried once on a new one.
      const b = ask();
      expect((await looker.peek((v) => decide(v, b), b)).kind).toBe('send');
      expect((await writer.reserve((v) => decide(v, b), b)).kind).toBe('send');
    } finally {
      await looker.close();
      await writer.close();
    }
  });
});
