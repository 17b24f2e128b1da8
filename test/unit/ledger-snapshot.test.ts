/**
 * The file ledger's start-up snapshot (src/safety/ledger-snapshot.ts): a start from it plus the
 * lines past it must see exactly what a full read of the ledger sees (keys, replays, unsettled
 * attempts, cap and budget sums, a human's answers), and a snapshot that disagrees with the
 * ledger (cut short, corrupt, of another version or horizon, ahead of a ledger that lost its
 * tail, or of a file replaced since) must never be trusted.
 */

import { spawnSync } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PROCESS_OWNER } from '../../src/safety/dir-lock.js';
import { FileStore, type LedgerEntry, segmentName } from '../../src/safety/ledger.js';
import { ALL } from '../../src/safety/ledger-index.js';
import { SNAPSHOT } from '../../src/safety/ledger-snapshot.js';
import type { LedgerView } from '../../src/safety/reserve.js';
import { tempDir } from '../fixtures/cli.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** A fixed "now" for the first store (noon UTC, so that yesterday's segment is within reach). */
const T1 = Date.UTC(2026, 10, 30, 12);

const CUSTOMERS = ['id:1', 'id:2', 'id:3'];
const IDS = [...CUSTOMERS, 'mobile:1', 'mobile:2'];
const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'];
const OPS = ['op0', 'op1', 'op2'];
const QUESTIONS = ['q0', 'q1'];
/** A writer of this host that has exited (its pid is free). */
const DEAD = `${hostname()}:${spawnSync(process.execPath, ['-e', '0']).pid}:x`;

const attempt = fc.record({
  key: fc.constantFrom(...KEYS),
  op: fc.constantFrom(...OPS),
  customer: fc.constantFrom(...CUSTOMERS),
  other: fc.option(fc.constantFrom('mobile:1', 'mobile:2'), { nil: undefined }),
  points: fc.integer({ min: 0, max: 50 }),
  moved: fc.option(fc.oneof(fc.integer({ min: 0, max: 50 }), fc.constant('all' as const)), {
    nil: undefined,
  }),
  approval: fc.option(fc.constantFrom(...QUESTIONS), { nil: undefined }),
  status: fc.constantFrom('pending', 'succeeded', 'failed', 'unknown') as fc.Arbitrary<LedgerEntry['status']>,
  ago: fc.integer({ min: 0, max: 30 * 60 }),
  owner: fc.constantFrom(DEAD, PROCESS_OWNER, undefined),
});
const line = fc.oneof(
  { weight: 6, arbitrary: attempt.map((a) => ({ t: 'attempt' as const, ...a })) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('answer' as const),
      q: fc.constantFrom(...QUESTIONS),
      op: fc.constantFrom(...OPS),
      customer: fc.constantFrom(...CUSTOMERS),
      answer: fc.constantFrom('accept', 'decline', 'cancel', 'lift') as fc.Arbitrary<
        'accept' | 'decline' | 'cancel' | 'lift'
      >,
      ago: fc.integer({ min: 0, max: 30 * 60 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('code' as const),
      customer: fc.constantFrom(...CUSTOMERS),
      ago: fc.integer({ min: 0, max: 30 * 60 }),
    }),
  },
  {
    // A question waiting on the approval page (approvals.ts), answered by an `answer` line.
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('approval' as const),
      q: fc.constantFrom(...QUESTIONS),
      op: fc.constantFrom(...OPS),
      customer: fc.constantFrom(...CUSTOMERS),
      ago: fc.integer({ min: 0, max: 30 * 60 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ t: 'torn' as const }) },
);
type Line = typeof line extends fc.Arbitrary<infer L> ? L : never;

let codes = 0;
/** A ledger line; `ago` is in minutes before T1 (up to 30 h: some are past the 24 h horizon). */
function text(l: Line): string {
  if (l.t === 'torn') return '{"key":"torn","fingerp';
  const at = T1 - l.ago * 60_000;
  if (l.t === 'code')
    return JSON.stringify({
      kind: 'code',
      key: `code-${++codes}`,
      fingerprint: 'code',
      tool: 'issue_redemption_code',
      customer: l.customer,
      points: 0,
      status: 'succeeded',
      at,
      updated: at,
      agent_key: false,
    });
  if (l.t === 'approval')
    return JSON.stringify({
      kind: 'approval',
      key: l.q,
      fingerprint: `fp-${l.op}-1`,
      meaning: `m-${l.op}`,
      tool: 'redeem_points',
      customer: l.customer,
      points: 0,
      moved: 1,
      status: 'pending',
      at,
      updated: at,
      expires: at + 15 * 60_000,
      agent_key: false,
    });
  if (l.t === 'answer')
    return JSON.stringify({
      kind: 'answer',
      key: l.q,
      fingerprint: 'answer',
      meaning: `m-${l.op}`,
      tool: 'redeem_points',
      customer: l.customer,
      points: 0,
      answer: l.answer,
      status: 'succeeded',
      at,
      updated: at,
      agent_key: false,
    });
  const e: LedgerEntry = {
    key: l.key,
    fingerprint: `fp-${l.op}-${l.points}`,
    meaning: `m-${l.op}`,
    tool: 'redeem_points',
    customer: l.customer,
    ...(l.other ? { ids: [l.other] } : {}),
    points: l.points,
    ...(l.moved !== undefined ? { moved: l.moved } : {}),
    ...(l.approval ? { approval: l.approval } : {}),
    status: l.status,
    at,
    updated: at,
    agent_key: true,
    ...(l.owner ? { owner: l.owner } : {}),
    ...(l.status === 'succeeded' ? { result: { points: l.points } } : {}),
  };
  return JSON.stringify(e);
}

/** Everything the safety rules can read from a view, for every name the lines use. */
function everything(v: LedgerView, now: number) {
  const sinces = [0, now - DAY, now - 6 * HOUR, now - HOUR];
  const sums = [...CUSTOMERS, ALL].map((c) =>
    sinces.map((s) => [
      v.spentSince(c, s),
      v.movedSince(c, s),
      v.codesSince(c, s),
      v.freedBy('spent', c, s, 5),
      v.freedBy('moved', c, s, 5),
      v.freedBy('codes', c, s, 1),
    ]),
  );
  const byKey = (es: LedgerEntry[]) => [...es].sort((a, b) => a.key.localeCompare(b.key));
  return {
    keys: KEYS.map((k) => v.byKey(k)),
    fps: OPS.flatMap((o) => Array.from({ length: 51 }, (_, p) => v.latest(`fp-${o}-${p}`))).filter(Boolean),
    meanings: OPS.map((o) => v.latestByMeaning(`m-${o}`)),
    unresolved: IDS.map((id) => byKey(v.unresolved([id]))),
    declined: IDS.map((id) => sinces.map((s) => v.declinedSince([id], s))),
    approvals: QUESTIONS.map((q) => [v.approval(q), v.approvalUsed(q)]),
    approvalFor: OPS.map((o) => v.approvalFor(`m-${o}`)),
    sums,
  };
}

const look = (s: FileStore, now: number) => s.peek((v) => everything(v, now));
const open = (dir: string, now: number, snapshot = true) =>
  new FileStore(dir, DAY, undefined, () => now, undefined, { snapshot });
const yesterday = (dir: string) => join(dir, segmentName(T1 - DAY));
const today = (dir: string) => join(dir, segmentName(T1));
const write = (path: string, lines: Line[]) => {
  if (lines.length) appendFileSync(path, `${lines.map(text).join('\n')}\n`);
};

/** A ledger with a few lines, a snapshot of it, and the store that wrote it (closed). */
async function snapshotted(lines = 20) {
  const dir = tempDir();
  mkdirSync(dir, { recursive: true });
  const es = Array.from({ length: lines }, (_, i) =>
    JSON.stringify({
      key: `s${i}`,
      fingerprint: `fp-s${i}`,
      tool: 'redeem_points',
      customer: 'id:1',
      points: 1,
      status: 'succeeded',
      at: T1 - i * 1000,
      updated: T1,
      agent_key: false,
      result: { i },
    }),
  );
  writeFileSync(today(dir), `${es.join('\n')}\n`);
  const a = open(dir, T1);
  await a.writeSnapshot();
  await a.close();
  return dir;
}

describe('file ledger snapshot', () => {
  it('a start from the snapshot and the lines past it sees what a full read of the ledger sees', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(line, { maxLength: 40 }),
        fc.array(line, { maxLength: 25 }),
        fc.array(line, { maxLength: 5 }),
        fc.integer({ min: 0, max: 3 * 60 }),
        fc.boolean(),
        async (before, after, olderFile, later, appendOlder) => {
          const dir = tempDir();
          mkdirSync(dir, { recursive: true });
          write(yesterday(dir), olderFile);
          write(today(dir), before);
          const a = open(dir, T1);
          await a.writeSnapshot();
          await a.close();
          // Past the snapshot: more lines today, maybe yesterday's file grown too (then the
          // snapshot is not trusted, and the full read must give the same anyway).
          write(today(dir), after);
          if (appendOlder) write(yesterday(dir), after.slice(0, 2));
          const now = T1 + later * 60_000;
          const fromSnap = open(dir, now);
          const full = open(dir, now, false);
          try {
            expect(full.loadedFrom?.snapshot).toBe(false);
            // Trusted unless a file before the last covered one grew or appeared (or there was none).
            const grew = appendOlder && after.length > 0 && before.length > 0;
            if (!grew && (before.length || olderFile.length))
              expect(fromSnap.loadedFrom?.snapshot).toBe(true);
            expect(await look(fromSnap, now)).toEqual(await look(full, now));
            expect(await fromSnap.unresolvedAll()).toEqual(await full.unresolvedAll());
            // What the approval page and the console read: pending approvals, answers, the recent lines.
            expect(await fromSnap.recent(0)).toEqual(await full.recent(0));
            for (const op of OPS)
              expect(await fromSnap.recent(0, { meaning: `m-${op}` })).toEqual(
                await full.recent(0, { meaning: `m-${op}` }),
              );
            expect(fromSnap.skipped).toBe(full.skipped);
          } finally {
            await fromSnap.close();
            await full.close();
          }
        },
      ),
      { numRuns: 120 },
    );
  });

  it('reads only the lines past the snapshot, and an outcome written since is seen', async () => {
    const dir = await snapshotted(50);
    const b = open(dir, T1);
    expect(b.loadedFrom).toEqual({ snapshot: true, lines: 0 });
    await b.put({ ...JSON.parse(text({ t: 'attempt', ...base, key: 'late', status: 'pending' })) });
    await b.settle({ ...JSON.parse(text({ t: 'attempt', ...base, key: 'late', status: 'succeeded' })) });
    await b.close();
    const c = open(dir, T1);
    expect(c.loadedFrom).toEqual({ snapshot: true, lines: 2 });
    expect((await c.byKey('late'))?.status).toBe('succeeded');
    expect((await c.byKey('s49'))?.result).toEqual({ i: 49 });
    expect(await c.spentSince('id:1', 0)).toBe(50 + base.points);
    await c.close();
  });

  const base = {
    op: 'op0',
    customer: 'id:1',
    other: undefined,
    points: 7,
    moved: undefined,
    approval: undefined,
    ago: 0,
    owner: DEAD,
  };

  /** Every key the ledger holds is found, whether the snapshot is used or not. */
  async function allThere(dir: string, n: number) {
    const s = open(dir, T1);
    for (let i = 0; i < n; i++) expect((await s.byKey(`s${i}`))?.status).toBe('succeeded');
    expect(await s.spentSince('id:1', 0)).toBe(n);
    const from = s.loadedFrom;
    await s.close();
    return from;
  }

  it('a snapshot cut short (a crash while copying it, a full disk) is not trusted: the ledger is read in full', async () => {
    const dir = await snapshotted();
    const path = join(dir, SNAPSHOT);
    truncateSync(path, Math.floor(statSync(path).size / 2));
    expect(await allThere(dir, 20)).toEqual({ snapshot: false, lines: 20 });
    // Cut just before its trailer's newline, or to nothing.
    const dir2 = await snapshotted();
    truncateSync(join(dir2, SNAPSHOT), statSync(join(dir2, SNAPSHOT)).size - 1);
    expect((await allThere(dir2, 20))?.snapshot).toBe(false);
    const dir3 = await snapshotted();
    writeFileSync(join(dir3, SNAPSHOT), '');
    expect((await allThere(dir3, 20))?.snapshot).toBe(false);
  });

  it('a corrupt snapshot body is not trusted, and nothing it holds leaks into the index', async () => {
    const dir = await snapshotted();
    const path = join(dir, SNAPSHOT);
    // An entry the ledger never held, put where another was, with the trailer left as it was.
    const forged = readFileSync(path, 'utf8').replace('"key":"s3"', '"key":"zz"');
    writeFileSync(path, forged);
    expect(await allThere(dir, 20)).toEqual({ snapshot: false, lines: 20 });
    const s = open(dir, T1);
    expect(await s.byKey('zz')).toBeUndefined();
    await s.close();
  });

  it('a snapshot of another format version or horizon is not trusted', async () => {
    const dir = await snapshotted();
    const path = join(dir, SNAPSHOT);
    writeFileSync(path, readFileSync(path, 'utf8').replace(/"version":\d+/, '"version":0'));
    expect((await allThere(dir, 20))?.snapshot).toBe(false);
    const dir2 = await snapshotted();
    const other = new FileStore(dir2, 2 * DAY, undefined, () => T1);
    expect(other.loadedFrom?.snapshot).toBe(false);
    await other.close();
  });

  it('a snapshot ahead of a ledger that lost its tail is not trusted: no key comes back that the ledger lost', async () => {
    const dir = await snapshotted();
    const seg = today(dir);
    const lines = readFileSync(seg, 'utf8').split('\n');
    // The ledger loses its last five lines (restored from a backup, a disk that lied).
    writeFileSync(seg, `${lines.slice(0, 15).join('\n')}\n`);
    const s = open(dir, T1);
    expect(s.loadedFrom?.snapshot).toBe(false);
    expect((await s.byKey('s14'))?.status).toBe('succeeded');
    expect(await s.byKey('s15')).toBeUndefined();
    await s.close();
    // Lost, then grown past the snapshot's offset again with other lines: the bytes before the
    // offset differ, so the snapshot is still not trusted.
    const dir2 = await snapshotted();
    const seg2 = today(dir2);
    const size = statSync(seg2).size;
    writeFileSync(seg2, `${lines.slice(0, 15).join('\n')}\n`);
    while (statSync(seg2).size <= size)
      appendFileSync(seg2, `${text({ t: 'attempt', ...base, key: 'k0', status: 'succeeded' })}\n`);
    const s2 = open(dir2, T1);
    expect(s2.loadedFrom?.snapshot).toBe(false);
    expect(await s2.byKey('s15')).toBeUndefined();
    expect((await s2.byKey('k0'))?.status).toBe('succeeded');
    await s2.close();
  });

  it('a ledger file replaced by another (another inode), or a file before the last one grown, means a full read', async () => {
    const dir = await snapshotted();
    const seg = today(dir);
    const same = readFileSync(seg);
    writeFileSync(`${seg}.new`, same);
    const { renameSync } = await import('node:fs');
    renameSync(`${seg}.new`, seg);
    expect((await allThere(dir, 20))?.snapshot).toBe(false);
    // Yesterday's segment grows after a snapshot covered it whole.
    const dir2 = tempDir();
    mkdirSync(dir2, { recursive: true });
    write(yesterday(dir2), [{ t: 'attempt', ...base, key: 'k1', status: 'pending' }]);
    write(today(dir2), [{ t: 'attempt', ...base, key: 'k2', status: 'succeeded' }]);
    const a = open(dir2, T1);
    await a.writeSnapshot();
    await a.close();
    write(yesterday(dir2), [{ t: 'attempt', ...base, key: 'k1', status: 'succeeded' }]);
    const b = open(dir2, T1);
    expect(b.loadedFrom?.snapshot).toBe(false);
    expect((await b.byKey('k1'))?.status).toBe('succeeded');
    expect(await b.unresolvedAll()).toEqual([]);
    await b.close();
  });

  it('a writer that died mid-write leaves the old snapshot in force and its temporary file is removed', async () => {
    const dir = await snapshotted();
    const tmp = join(dir, `${SNAPSHOT}.tmp-${DEAD}`);
    writeFileSync(tmp, 'half a snapsh');
    expect((await allThere(dir, 20))?.snapshot).toBe(true);
    expect(existsSync(tmp)).toBe(false);
    // A live writer's temporary file is left alone.
    const mine = join(dir, `${SNAPSHOT}.tmp-${PROCESS_OWNER}`);
    writeFileSync(mine, 'in progress');
    await allThere(dir, 20);
    expect(existsSync(mine)).toBe(true);
  });

  it('an unsettled attempt in the snapshot stays blocking, and reads back as unknown once its writer is gone', async () => {
    const dir = tempDir();
    mkdirSync(dir, { recursive: true });
    write(today(dir), [
      { t: 'attempt', ...base, key: 'live', customer: 'id:2', status: 'pending', owner: PROCESS_OWNER },
      { t: 'attempt', ...base, key: 'dead', customer: 'id:3', status: 'pending', owner: DEAD },
    ]);
    const a = open(dir, T1);
    await a.writeSnapshot();
    await a.close();
    const b = open(dir, T1 + DAY * 3);
    expect(b.loadedFrom?.snapshot).toBe(true);
    // At any age: the horizon never forgets an attempt whose outcome is not known.
    expect((await b.byKey('live'))?.status).toBe('pending');
    expect((await b.byKey('dead'))?.status).toBe('unknown');
    expect((await b.peek((v) => v.unresolved(['id:3']))).map((e) => e.key)).toEqual(['dead']);
    await b.close();
  });

  it('two stores on one data dir writing and taking snapshots in turn: a start from the last one sees all', async () => {
    const dir = tempDir();
    const a = new FileStore(dir);
    const b = new FileStore(dir);
    const now = Date.now();
    const e = (key: string, status: LedgerEntry['status'], customer: string): LedgerEntry => ({
      key,
      fingerprint: `fp-${key}`,
      tool: 'redeem_points',
      customer,
      points: 1,
      status,
      at: now,
      updated: now,
      agent_key: false,
      owner: PROCESS_OWNER,
    });
    for (let i = 0; i < 30; i++) {
      const s = i % 2 ? a : b;
      await s.put(e(`x${i}`, 'pending', `id:${i % 3}`));
      if (i % 7 === 3) await (i % 2 ? b : a).writeSnapshot();
      if (i % 3) await s.settle(e(`x${i}`, 'succeeded', `id:${i % 3}`));
    }
    await Promise.all([a.writeSnapshot(), b.writeSnapshot()]);
    await a.put(e('after', 'pending', 'id:9'));
    const c = new FileStore(dir, undefined, undefined, undefined, undefined, { background: true });
    const d = new FileStore(dir, undefined, undefined, undefined, undefined, { snapshot: false });
    await c.loaded();
    expect(c.loadedFrom?.snapshot).toBe(true);
    const all = (s: FileStore) =>
      s.peek((v) => ({
        keys: [...Array(30).keys(), 'after'].map((i) => v.byKey(typeof i === 'number' ? `x${i}` : i)),
        sums: ['id:0', 'id:1', 'id:2', 'id:9', ALL].map((n) => v.spentSince(n, 0)),
        open: ['id:0', 'id:1', 'id:2', 'id:9'].map((n) => v.unresolved([n]).length),
      }));
    const [got, want] = [await all(c), await all(d)];
    expect(got).toEqual(want);
    expect(want.sums.at(-1)).toBe(31);
    expect(want.open).toEqual([10, 0, 0, 1]);
    await Promise.all([a, b, c, d].map((s) => s.close()));
    expect(readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('a snapshot a long-running store writes days later is one a start trusts (same files as a start reads)', async () => {
    const dir = tempDir();
    mkdirSync(dir, { recursive: true });
    let clock = T1;
    const at = (key: string, status: LedgerEntry['status']) =>
      JSON.parse(text({ t: 'attempt', ...base, key, status, ago: (T1 - clock) / 60_000 })) as LedgerEntry;
    write(yesterday(dir), [{ t: 'attempt', ...base, key: 'k0', status: 'succeeded', ago: 24 * 60 }]);
    const a = new FileStore(dir, DAY, undefined, () => clock);
    await a.put(at('k1', 'pending'));
    // Two days on: the oldest segments fall out of the horizon, a new one starts.
    clock = T1 + 2 * DAY;
    await a.put(at('k2', 'pending'));
    await a.settle(at('k2', 'succeeded'));
    await a.writeSnapshot();
    await a.close();
    const b = new FileStore(dir, DAY, undefined, () => clock);
    const c = new FileStore(dir, DAY, undefined, () => clock, undefined, { snapshot: false });
    expect(b.loadedFrom).toEqual({ snapshot: true, lines: 0 });
    expect(await look(b, clock)).toEqual(await look(c, clock));
    expect(await b.unresolvedAll()).toEqual(await c.unresolvedAll());
    expect((await b.unresolvedAll()).map((e) => e.key)).toEqual(['k1']);
    await b.close();
    await c.close();
  });

  it('in the background, the store is usable at once and every call waits for the ledger', async () => {
    const dir = await snapshotted(3000);
    writeFileSync(join(dir, SNAPSHOT), ''); // a full read, 3000 lines, a few chunks
    const s = new FileStore(dir, DAY, undefined, () => T1, undefined, { background: true });
    expect(s.loadedFrom).toBeUndefined();
    expect(await s.spentSince('id:1', 0)).toBe(3000);
    expect(s.loadedFrom).toEqual({ snapshot: false, lines: 3000 });
    await s.close();
  });
});
