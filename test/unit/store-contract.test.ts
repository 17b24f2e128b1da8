/**
 * One contract, every store: the memory store, the file store (two instances on one data dir)
 * and the PostgreSQL store (two instances on one database, a real private server). The same
 * behaviours: the atomic reserve step under concurrency, key uniqueness, unsettled attempts at
 * any age, settle, replay by meaning, and instances on one backing seeing each other.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolError } from '../../src/errors.js';
import {
  answerApproval,
  approvalByHandle,
  liftCooldown,
  requestApproval,
} from '../../src/safety/approvals.js';
import { FileStore, type IdempotencyStore, type LedgerEntry, MemoryStore } from '../../src/safety/ledger.js';
import { PgStore } from '../../src/safety/pg-store.js';
import {
  type CodeAsk,
  type Decision,
  decide,
  decideCode,
  type ReserveAsk,
} from '../../src/safety/reserve.js';
import { createDatabase, pgMissing, sharedCluster } from '../fixtures/postgres.js';

interface Backing {
  /** A new store instance on this backing (the memory store has one instance only). */
  open(): Promise<IdempotencyStore>;
  /** Whether two instances share what they hold. */
  shared: boolean;
}

const dirs: string[] = [];
const opened: IdempotencyStore[] = [];
afterAll(async () => {
  await Promise.allSettled(opened.map((s) => s.close()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const track = <S extends IdempotencyStore>(s: S) => {
  opened.push(s);
  return s;
};

const KINDS: Array<{ name: string; skip?: boolean; backing: () => Promise<Backing> }> = [
  {
    name: 'memory',
    backing: async () => {
      const s = track(new MemoryStore());
      return { open: async () => s, shared: false };
    },
  },
  {
    name: 'file',
    backing: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'clmcp-contract-'));
      dirs.push(dir);
      return { open: async () => track(new FileStore(dir)), shared: true };
    },
  },
  {
    // Each instance after the first reads the ledger in the background, from a snapshot the
    // instance before it wrote (then only the lines past it).
    name: 'file, loaded from a snapshot',
    backing: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'clmcp-contract-'));
      dirs.push(dir);
      let last: FileStore | undefined;
      return {
        open: async () => {
          await last?.writeSnapshot();
          last = track(new FileStore(dir, undefined, undefined, undefined, undefined, { background: true }));
          return last;
        },
        shared: true,
      };
    },
  },
  {
    name: 'postgres',
    skip: pgMissing,
    backing: async () => {
      const url = await createDatabase(await sharedCluster(), 'contract');
      return {
        open: async () =>
          track(
            await PgStore.open({ target: { connectionString: url }, purgeEveryMs: 0, timeoutMs: 15_000 }),
          ),
        shared: true,
      };
    },
  },
];

const OWNER = 'contract:1:x';
let seq = 0;
/** An operation of its own (fingerprint, meaning) unless told otherwise. */
const ask = (over: Partial<ReserveAsk> = {}): ReserveAsk => {
  const n = ++seq;
  return {
    tool: 'redeem_points',
    fingerprint: `fp-${n}`,
    meaning: `m-${n}`,
    customer: 'id:101',
    ids: ['id:101', 'mobile:919000000001'],
    points: 10,
    keyPrefix: 'mcp-rdm',
    resendable: true,
    now: Date.now(),
    windowMs: 86_400_000,
    limits: {},
    owner: OWNER,
    // In flight while pending and written by this test's "process".
    live: (e) => e.status === 'pending' && e.owner === OWNER,
    ...over,
  };
};
const reserve = (s: IdempotencyStore, a: ReserveAsk) => s.reserve((v) => decide(v, a), a);
const peek = (s: IdempotencyStore, a: ReserveAsk) => s.peek((v) => decide(v, a), a);
const codeOf = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (e) {
    if (e instanceof ToolError) return String(e.body.code);
    throw e;
  }
  return undefined;
};
const sendOf = (d: Decision) => {
  if (d.kind !== 'send') throw new Error(`expected a send, got ${d.kind}`);
  return d.entry;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DAY = 86_400_000;
const HOUR = 3_600_000;
const limitOf = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (e) {
    if (e instanceof ToolError) return { code: e.body.code, ...e.body.limit };
    throw e;
  }
  throw new Error('expected a refusal');
};
/** A human's answer line, as askHuman() records it. */
const answer = (a: ReserveAsk, said: 'accept' | 'decline', at: number): LedgerEntry => ({
  kind: 'answer',
  key: `q-${++seq}`,
  fingerprint: `answer:q-${seq}`,
  meaning: a.meaning,
  tool: a.tool,
  customer: a.customer,
  ...(a.ids.length > 1 ? { ids: a.ids.filter((i) => i !== a.customer) } : {}),
  points: 0,
  moved: a.points,
  answer: said,
  status: 'succeeded',
  at,
  updated: at,
  agent_key: false,
});

for (const kind of KINDS) {
  describe.skipIf(kind.skip)(`store contract: ${kind.name}`, () => {
    let backing: Backing;
    let a: IdempotencyStore;
    let b: IdempotencyStore;
    beforeAll(async () => {
      backing = await kind.backing();
      a = await backing.open();
      b = await backing.open();
    }, 60_000);

    it('reserve is atomic: concurrent different calls for one customer, across instances, spend exactly the daily cap', async () => {
      const customer = `id:cap-${kind.name}`;
      const limits = { maxPointsPerCustomerPerDay: 50 };
      let sends = 0;
      let refused = 0;
      let inFlight = 0;
      let overlap = 0;
      // 24 callers, each one redemption of 10 points of its own; the cap allows 5.
      const worker = async (i: number) => {
        const store = i % 2 ? a : b;
        const base = ask({ customer, ids: [customer, `mobile:cap-${kind.name}-${i % 3}`], limits });
        for (;;) {
          const now = Date.now();
          let d: Decision;
          try {
            d = await reserve(store, { ...base, now });
          } catch (e) {
            if (e instanceof ToolError && e.body.code === 'cap_per_customer_per_day') {
              refused++;
              return;
            }
            throw e;
          }
          if (d.kind === 'wait') {
            await sleep(1 + Math.random() * 3);
            continue;
          }
          const entry = sendOf(d);
          sends++;
          if (++inFlight > 1) overlap++;
          await sleep(2);
          inFlight--;
          await store.settle({ ...entry, status: 'succeeded', updated: Date.now(), result: { ok: true } });
          return;
        }
      };
      await Promise.all(Array.from({ length: 24 }, (_, i) => worker(i)));
      expect(sends).toBe(5);
      expect(refused).toBe(19);
      // One call per customer at a time: no two attempts were ever in flight together.
      expect(overlap).toBe(0);
      expect(await a.spentSince(customer, Date.now() - 86_400_000)).toBe(50);
    });

    it('an agent key is claimed once: concurrent calls for different customers with one key, one is sent', async () => {
      for (let round = 0; round < 10; round++) {
        const key = `agent-${kind.name}-${round}`;
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, i) => {
            const customer = `id:k${round}-${i}`;
            return codeOf(reserve(i % 2 ? a : b, ask({ agentKey: key, customer, ids: [customer] })));
          }),
        );
        expect(results.filter((r) => r === undefined)).toHaveLength(1);
        expect(results.filter((r) => r === 'key_conflict')).toHaveLength(7);
        expect((await a.byKey(key))?.status).toBe('pending');
      }
    });

    it('an unknown attempt blocks its customer at any age, under any of its identifiers; the identical call re-sends its key', async () => {
      const old = Date.now() - 10 * 86_400_000;
      const first = ask({ customer: 'id:old', ids: ['id:old', 'mobile:old'] });
      const entry: LedgerEntry = {
        key: `k-old-${kind.name}`,
        fingerprint: first.fingerprint,
        meaning: first.meaning,
        tool: 'redeem_points',
        customer: 'id:old',
        ids: ['mobile:old'],
        points: 10,
        status: 'unknown',
        at: old,
        updated: old,
        agent_key: false,
      };
      await a.put(entry);
      // Another operation, named by the mobile only.
      const other = ask({ customer: 'mobile:old', ids: ['mobile:old'] });
      expect(await codeOf(reserve(b, other))).toBe('unresolved_attempt');
      expect((await b.unresolvedAll()).map((e) => e.key)).toContain(entry.key);
      // The identical operation (by meaning) re-sends the same key, even with a short window.
      const again = sendOf(
        await reserve(b, { ...first, fingerprint: 'fp-cosmetic', now: Date.now(), windowMs: 1000 }),
      );
      expect(again).toMatchObject({ key: entry.key, first_at: old, status: 'pending' });
    });

    it('settle: a success is replayed (by meaning too) and counted; a failure is not counted and its key is spent', async () => {
      const op = ask({ customer: 'id:settle', ids: ['id:settle'], agentKey: `agent-s-${kind.name}` });
      const e = sendOf(await reserve(a, op));
      await a.settle({ ...e, status: 'succeeded', updated: Date.now(), result: { points: 10, z: 1, a: 2 } });
      const replay = await peek(b, { ...op, fingerprint: 'fp-other-bytes', now: Date.now() });
      expect(replay.kind).toBe('replay');
      if (replay.kind === 'replay')
        expect(Object.keys(replay.entry.result ?? {})).toEqual(['points', 'z', 'a']);
      expect(await b.spentSince('id:settle', Date.now() - 86_400_000)).toBe(10);

      const op2 = ask({ customer: 'id:settle', ids: ['id:settle'], agentKey: `agent-f-${kind.name}` });
      const f = sendOf(await reserve(b, op2));
      await b.settle({
        ...f,
        status: 'failed',
        updated: Date.now(),
        error: { code: '813', message: 'refused', retryable: false, source: 'upstream', outcome: 'failed' },
      });
      expect(await a.spentSince('id:settle', Date.now() - 86_400_000)).toBe(10);
      expect(await codeOf(reserve(a, { ...op2, now: Date.now() }))).toBe('key_failed');
      expect((await a.latest(f.fingerprint))?.status).toBe('failed');
    });

    it('a pending attempt of another writer is waited for while live; abandoned, it blocks like an unknown one', async () => {
      const op = ask({ customer: 'id:live', ids: ['id:live'] });
      sendOf(await reserve(a, op));
      const other = ask({ customer: 'id:live', ids: ['id:live'] });
      expect((await reserve(b, other)).kind).toBe('wait');
      expect(await codeOf(reserve(b, { ...other, live: () => false }))).toBe('unresolved_attempt');
    });

    it('instances on one backing see each other at once, and a reopened one sees everything', async () => {
      if (!backing.shared) return;
      const op = ask({ customer: 'id:share', ids: ['id:share'] });
      const e = sendOf(await reserve(a, op));
      // refresh(): what another instance wrote since (the file store reads it; the others hold it).
      await b.refresh();
      expect((await b.byKey(e.key))?.status).toBe('pending');
      await a.settle({ ...e, status: 'succeeded', updated: Date.now(), result: { n: 1 } });
      expect((await peek(b, { ...op, now: Date.now() })).kind).toBe('replay');
      const c = await backing.open();
      expect((await c.byKey(e.key))?.status).toBe('succeeded');
      expect(await c.spentSince('id:share', 0)).toBe(10);
      expect(await c.health()).toEqual({ ok: true });
    });

    it('the per-server cap counts every customer, across instances; its refusal says what is left and when it frees', async () => {
      // Its own server: the per-server sum counts every customer on the backing.
      const own = await kind.backing();
      const [x, y] = [await own.open(), await own.open()];
      const limits = { maxPointsPerServerPerDay: 50 };
      const t0 = Date.now() - HOUR;
      // An older success (an hour ago), then concurrent calls of 8 customers.
      const first = ask({ customer: 'id:srv-0', ids: ['id:srv-0'], limits, now: t0 });
      const e = sendOf(await reserve(x, first));
      await x.settle({ ...e, status: 'succeeded', updated: t0, result: { ok: true } });
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => {
          const customer = `id:srv-${i + 1}`;
          return codeOf(reserve(i % 2 ? x : y, ask({ customer, ids: [customer], limits, points: 10 })));
        }),
      );
      expect(results.filter((r) => r === undefined)).toHaveLength(4);
      expect(results.filter((r) => r === 'cap_per_server_per_day')).toHaveLength(4);
      expect(await y.spentSince('*', Date.now() - DAY)).toBe(50);
      const refusal = await limitOf(reserve(y, ask({ customer: 'id:srv-9', ids: ['id:srv-9'], limits })));
      // Enough frees when the oldest 10 points (the success an hour ago) leave the window.
      expect(refusal).toMatchObject({ code: 'cap_per_server_per_day', value: 50, left: 0 });
      expect(refusal.frees_at).toBe(new Date(t0 + DAY + 1).toISOString());
    });

    it('confirmation: the budget counts moved points, a yes is spent once, a no is remembered under every identity', async () => {
      const customer = `id:conf-${kind.name}`;
      const ids = [customer, `mobile:conf-${kind.name}`];
      const confirm = { above: 15, windowMs: DAY, cooldownMs: HOUR };
      const t0 = Date.now() - 60_000;
      const op1 = ask({ customer, ids, confirm, now: t0 });
      const e1 = sendOf(await reserve(a, op1));
      await a.settle({ ...e1, status: 'succeeded', updated: t0, result: { ok: true } });
      // 10 moved, 10 more is above 15: ask, and the budget frees when the first 10 leave it.
      const op2 = ask({ customer, ids, confirm });
      const d = await peek(b, op2);
      expect(d).toMatchObject({ kind: 'ask', need: { why: 'budget', moved: 10, points: 10 } });
      if (d.kind === 'ask' && d.need.why === 'budget') expect(d.need.freesAt).toBe(t0 + DAY + 1);
      expect((await reserve(b, op2)).kind).toBe('ask');
      // A yes to this operation: spent by one attempt.
      const yes = answer(op2, 'accept', Date.now());
      await a.put(yes);
      const e2 = sendOf(await reserve(b, { ...op2, approval: yes.key, now: Date.now() }));
      expect(e2.approval).toBe(yes.key);
      // The same operation again, past its replay window, with the same yes: it is spent.
      await b.settle({ ...e2, status: 'succeeded', updated: Date.now(), result: { ok: true } });
      const op3 = { ...op2, approval: yes.key, windowMs: 0, now: Date.now() + 5 };
      expect((await peek(a, op3)).kind).toBe('ask');
      // A reversal of "all" asks whatever the budget; its moved points make the budget endless.
      const rev = ask({ customer, ids, confirm, points: 0, moved: 'all', tool: 'reverse_redemption' });
      expect(await peek(a, rev)).toMatchObject({ kind: 'ask', need: { why: 'all' } });
      // A "no" named by the mobile only: every call for the customer waits out the cooldown.
      const small = ask({ customer, ids, confirm, points: 1 });
      const no = answer(ask({ customer: ids[1], ids: [ids[1]] }), 'decline', Date.now());
      await b.put(no);
      const after = await peek(a, { ...small, now: Date.now() });
      expect(after).toMatchObject({ kind: 'ask', need: { why: 'cooldown', until: no.at + HOUR + 1 } });
    });

    it('approvals on the page: a request is read back by any instance, answered once across instances, and its yes covers only its operation', async () => {
      const customer = `id:page-${kind.name}`;
      const ids = [customer, `mobile:page-${kind.name}`];
      const confirm = { above: 5, windowMs: DAY, cooldownMs: HOUR };
      const op = ask({ customer, ids, confirm });
      const need = await peek(a, op);
      expect(need.kind).toBe('ask');
      if (need.kind !== 'ask') return;
      const q = {
        tool: op.tool,
        title: 'Redeem points',
        summary: 'Redeem 10 points',
        facts: [['Points', '10']] as Array<[string, string]>,
        fingerprint: op.fingerprint,
        meaning: op.meaning,
        customer,
        ids,
        moved: 10,
      };
      const deps = (s: IdempotencyStore) => ({ store: s, owner: OWNER, ttlMs: 60_000, cooldownMs: HOUR });
      const req = await requestApproval(deps(a), q, need.need);
      // Another instance sees the pending request, and a repeat gets the same handle.
      const seen = await approvalByHandle(b, req.handle, Date.now() - 60_000);
      expect(seen).toMatchObject({ handle: req.handle, status: 'pending' });
      expect((await requestApproval(deps(b), q, need.need)).handle).toBe(req.handle);
      // Two operators answer at once on two instances: one answer is written.
      const [x, y] = await Promise.all([
        answerApproval(a, seen!, 'accept', 'ann'),
        answerApproval(b, seen!, 'decline', 'bob'),
      ]);
      expect([x, y].filter((r) => r === undefined)).toHaveLength(1);
      expect([x, y]).toContain('answered');
      const after = await approvalByHandle(a, req.handle, Date.now() - 60_000);
      const said = after!.answer!.answer;
      expect(after!.status).toBe(said === 'accept' ? 'approved' : 'declined');
      if (said === 'accept') {
        // The yes lets this operation through once; another operation of the customer still asks.
        const other = ask({ customer, ids, confirm });
        expect((await peek(b, other)).kind).toBe('ask');
        const e = sendOf(await reserve(b, { ...op, now: Date.now() }));
        expect(e.approval).toBe(req.handle);
        expect((await approvalByHandle(b, req.handle, Date.now() - 60_000))!.used?.key).toBe(e.key);
      } else {
        // The "no": cooldown for the customer until an operator lifts it.
        const small = ask({ customer, ids, confirm, points: 1 });
        const cool = await peek(b, { ...small, now: Date.now() });
        expect(cool).toMatchObject({ kind: 'ask', need: { why: 'cooldown' } });
        const declined = after!.answer!;
        await liftCooldown(a, declined, 'ann: called them', OWNER, Date.now() + 1);
        expect((await peek(b, { ...small, now: Date.now() + 2 })).kind).toBe('send');
      }
      // The newest entries, newest first, each key once.
      const recent = await b.recent(Date.now() - 60_000);
      expect(recent.filter((e) => e.key === `request:${req.handle}`)).toHaveLength(1);
      // Of one operation: its request and answer, nothing of another operation.
      const ofOp = await a.recent(Date.now() - 60_000, { meaning: op.meaning });
      expect(ofOp.map((e) => e.key)).toEqual(expect.arrayContaining([`request:${req.handle}`, req.handle]));
      expect(ofOp.every((e) => e.meaning === op.meaning)).toBe(true);
      expect(recent.some((e) => e.meaning !== op.meaning)).toBe(true);
      for (let i = 1; i < recent.length; i++) expect(recent[i - 1].at).toBeGreaterThanOrEqual(recent[i].at);
    });

    it('validation codes are counted per customer per hour; the refusal says when the next may go', async () => {
      const customer = `id:codes-${kind.name}`;
      const code = (now: number): CodeAsk => ({
        tool: 'issue_redemption_code',
        customer,
        ids: [customer],
        now,
        limits: { maxCodesPerCustomerPerHour: 2 },
        owner: OWNER,
      });
      const t0 = Date.now() - 10_000;
      for (const now of [t0, Date.now()]) {
        const c = code(now);
        expect((await (now === t0 ? a : b).reserve((v) => decideCode(v, c), c)).kind).toBe('send');
      }
      const c = code(Date.now());
      expect(await limitOf(a.reserve((v) => decideCode(v, c), c))).toMatchObject({
        code: 'code_rate_limited',
        value: 2,
        frees_at: new Date(t0 + HOUR + 1).toISOString(),
      });
      // Codes are not money: nothing counted against the caps, no replay by their lines.
      expect(await b.spentSince(customer, 0)).toBe(0);
    });
  });
}
