import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  FileStore,
  type LedgerEntry,
  ledgerFiles,
  MemoryStore,
  segmentName,
} from '../../src/safety/ledger.js';
import { tempDir } from '../fixtures/cli.js';

/** A ledger entry written at `when`. */
const entry = (key: string, status: LedgerEntry['status'], when = Date.now()): LedgerEntry => ({
  key,
  fingerprint: `fp-${key}`,
  tool: 'redeem_points',
  customer: 'mobile:1',
  points: 10,
  status,
  at: when,
  updated: when,
  agent_key: false,
});

describe('ledger file store', () => {
  it('reads back pending as unknown and skips a torn last line', async () => {
    const dir = tempDir();
    const a = new FileStore(dir);
    await a.put(entry('k1', 'pending'));
    await a.put(entry('k2', 'pending'));
    await a.put({ ...entry('k2', 'succeeded') });
    await a.close();
    appendFileSync(ledgerFiles(dir).at(-1)!, '{"key":"k3","fingerp');
    const b = new FileStore(dir);
    expect((await b.byKey('k1'))?.status).toBe('unknown');
    expect((await b.byKey('k2'))?.status).toBe('succeeded');
    expect(await b.byKey('k3')).toBeUndefined();
    expect(b.skipped).toBe(1);
    expect(await b.spentSince('mobile:1', 0)).toBe(20);
    await b.close();
  });
  it('sees what another process appended', async () => {
    const dir = tempDir();
    mkdirSync(dir, { recursive: true });
    const a = new FileStore(dir);
    writeFileSync(join(dir, segmentName(Date.now())), `${JSON.stringify(entry('other', 'succeeded'))}\n`, {
      flag: 'a',
    });
    expect(await a.byKey('other')).toBeUndefined();
    await a.refresh();
    expect((await a.byKey('other'))?.status).toBe('succeeded');
    await a.close();
  });
  it('forgets entries older than the horizon, on load (legacy ledger.jsonl) and while running; newer ones stay', async () => {
    const dir = tempDir();
    const day = 86_400_000;
    const old = { ...entry('old', 'succeeded'), at: Date.now() - 2 * day };
    writeFileSync(
      join(dir, 'ledger.jsonl'),
      `${JSON.stringify(old)}\n${JSON.stringify(entry('new', 'succeeded'))}\n`,
    );
    const a = new FileStore(dir, day);
    expect(await a.byKey('old')).toBeUndefined();
    expect(await a.latest('fp-old')).toBeUndefined();
    expect((await a.byKey('new'))?.status).toBe('succeeded');
    expect(await a.spentSince('mobile:1', 0)).toBe(10);
    await a.close();
    const m = new MemoryStore(50);
    await m.put(entry('soon-old', 'succeeded'));
    expect(await m.byKey('soon-old')).toBeDefined();
    await new Promise((r) => setTimeout(r, 80));
    await m.put(entry('fresh', 'succeeded'));
    expect(await m.byKey('soon-old')).toBeUndefined();
    expect(await m.spentSince('mobile:1', 0)).toBe(10);
  });

  it('reads a ledger larger than its read chunk, with multi-byte text across chunk edges', async () => {
    const dir = tempDir();
    const n = 6000; // ~1.7 MB, over the 1 MiB read chunk
    const text = Array.from({ length: n }, (_, i) =>
      JSON.stringify({ ...entry(`big${i}`, 'succeeded'), result: { note: `é€😀 ${'x'.repeat(i % 97)}` } }),
    ).join('\n');
    writeFileSync(join(dir, 'ledger.jsonl'), `${text}\n`);
    const a = new FileStore(dir);
    expect(a.skipped).toBe(0);
    expect(await a.spentSince('mobile:1', 0)).toBe(10 * n);
    expect((await a.byKey(`big${n - 1}`))?.result).toEqual({ note: `é€😀 ${'x'.repeat((n - 1) % 97)}` });
    await a.close();
  });

  it('two processes on one file: each sees the lines the other added between its own', async () => {
    const dir = tempDir();
    const a = new FileStore(dir);
    const b = new FileStore(dir);
    await a.put(entry('a1', 'pending'));
    await b.put(entry('b1', 'pending'));
    await a.settle(entry('a1', 'succeeded'));
    await a.put(entry('a2', 'pending'));
    await a.refresh();
    expect((await a.byKey('b1'))?.status).toBe('pending');
    expect((await a.byKey('a1'))?.status).toBe('succeeded');
    await b.refresh();
    expect((await b.byKey('a1'))?.status).toBe('succeeded');
    expect((await b.byKey('a2'))?.status).toBe('pending');
    // Only its own lines since: nothing to re-read, nothing lost.
    await a.put(entry('a3', 'pending'));
    await a.refresh();
    expect(await a.spentSince('mobile:1', 0)).toBe(40);
    await a.close();
    await b.close();
    const c = new FileStore(dir);
    expect(await c.spentSince('mobile:1', 0)).toBe(40);
    await c.close();
  });

  it('group commit: concurrent puts all land, in one file', async () => {
    const dir = tempDir();
    const a = new FileStore(dir);
    await Promise.all(Array.from({ length: 200 }, (_, i) => a.put(entry(`c${i}`, 'succeeded'))));
    await a.close();
    const b = new FileStore(dir);
    expect(await b.spentSince('mobile:1', 0)).toBe(2000);
    await b.close();
  });
});

describe('ledger daily segments', () => {
  const DAY = 86_400_000;
  /** 2026-01-10 23:59:59 UTC: one second before a date change. */
  const T0 = Date.UTC(2026, 0, 10, 23, 59, 59);
  const names = (dir: string) => ledgerFiles(dir).map((f) => f.slice(dir.length + 1));
  const statuses = (path: string) =>
    readFileSync(path, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => `${JSON.parse(l).key}:${JSON.parse(l).status}`);
  const fds = () => (existsSync('/proc/self/fd') ? readdirSync('/proc/self/fd').length : 0);

  it('a date change mid-attempt: pending in day N, outcome in day N+1, a restart reads it as succeeded', async () => {
    const dir = tempDir();
    let now = T0;
    const before = fds();
    const a = new FileStore(dir, DAY, undefined, () => now);
    expect(a.path).toBe(join(dir, 'ledger-2026-01-10.jsonl'));
    // The pending line waits for its fsync while the date changes and the outcome is written.
    const pending = a.put(entry('k1', 'pending', now));
    now = T0 + 2000;
    await a.settle({ ...entry('k1', 'succeeded', T0), updated: now });
    await pending;
    await a.put(entry('k2', 'pending', now));
    expect(a.path).toBe(join(dir, 'ledger-2026-01-11.jsonl'));
    await a.close();
    // Both appenders and every reader closed.
    if (before) expect(fds()).toBe(before);
    expect(names(dir)).toEqual(['ledger-2026-01-10.jsonl', 'ledger-2026-01-11.jsonl']);
    expect(statuses(join(dir, 'ledger-2026-01-10.jsonl'))).toEqual(['k1:pending']);
    // A new segment starts with a copy of the attempts still unsettled (k1, pending when it began).
    expect(statuses(join(dir, 'ledger-2026-01-11.jsonl'))).toEqual([
      'k1:pending',
      'k1:succeeded',
      'k2:pending',
    ]);
    const b = new FileStore(dir, DAY, undefined, () => now + 1000);
    expect((await b.byKey('k1'))?.status).toBe('succeeded');
    expect((await b.latest('fp-k1'))?.status).toBe('succeeded');
    expect((await b.byKey('k2'))?.status).toBe('unknown');
    expect(await b.spentSince('mobile:1', 0)).toBe(20);
    expect(b.skipped).toBe(0);
    await b.close();
  });

  it('start-up reads segments back only as far as the horizon plus a day of margin; older ones stay on disk', async () => {
    const dir = tempDir();
    const now = Date.UTC(2026, 0, 20, 12);
    // Entries within the horizon by their time, so only the file they are in decides whether they load.
    const line = (key: string) => `${JSON.stringify(entry(key, 'pending', now - 3_600_000))}\n`;
    const files: Record<string, string> = {
      'ledger-2026-01-16.jsonl': line('too-old'), // before the margin and not the newest before it: never read
      // The newest segment before the margin: read for the unsettled attempts every segment carries.
      'ledger-2026-01-17.jsonl': `${JSON.stringify(entry('stuck-old', 'unknown', now - 5 * DAY))}\n`,
      'ledger-2026-01-18.jsonl': line('margin'), // the day before (now - horizon)'s date
      'ledger-2026-01-19.jsonl': line('yesterday'),
      'ledger-2026-01-21.jsonl': line('tomorrow'), // another clock ahead
    };
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    const a = new FileStore(dir, DAY, undefined, () => now);
    expect(await a.byKey('too-old')).toBeUndefined();
    expect(await a.latest('fp-too-old')).toBeUndefined();
    // An attempt whose outcome is unknown is never forgotten, whatever its age.
    expect((await a.byKey('stuck-old'))?.status).toBe('unknown');
    for (const key of ['margin', 'yesterday', 'tomorrow'])
      expect((await a.byKey(key))?.status).toBe('unknown');
    expect(await a.spentSince('mobile:1', 0)).toBe(30);
    await a.put(entry('new', 'pending', now));
    await a.refresh();
    expect(await a.byKey('too-old')).toBeUndefined();
    await a.close();
    // Nothing deleted or rewritten; the new line went to today's segment.
    for (const [name, text] of Object.entries(files))
      expect(readFileSync(join(dir, name), 'utf8')).toBe(text);
    // Today's new segment starts with the unsettled attempts it carries forward.
    expect(statuses(join(dir, 'ledger-2026-01-20.jsonl'))).toEqual([
      'stuck-old:unknown',
      'margin:unknown',
      'yesterday:unknown',
      'tomorrow:unknown',
      'new:pending',
    ]);
    // A longer horizon (idempotency window) reaches further back.
    const b = new FileStore(dir, 3 * DAY, undefined, () => now);
    expect((await b.byKey('too-old'))?.status).toBe('unknown');
    await b.close();
  });

  it('a legacy ledger.jsonl is read whole, before the segments, and never written to', async () => {
    const dir = tempDir();
    const now = Date.UTC(2026, 0, 20, 12);
    const legacy = [entry('l1', 'pending', now - 60_000), entry('l2', 'pending', now - 60_000)]
      .map((e) => `${JSON.stringify(e)}\n`)
      .join('');
    writeFileSync(join(dir, 'ledger.jsonl'), legacy);
    writeFileSync(
      join(dir, 'ledger-2026-01-20.jsonl'),
      `${JSON.stringify(entry('l2', 'succeeded', now - 60_000))}\n`,
    );
    expect(names(dir)).toEqual(['ledger.jsonl', 'ledger-2026-01-20.jsonl']);
    const a = new FileStore(dir, DAY, undefined, () => now);
    expect((await a.byKey('l1'))?.status).toBe('unknown');
    expect((await a.byKey('l2'))?.status).toBe('succeeded');
    await a.put(entry('n1', 'pending', now));
    // An earlier version's server still appending to the legacy file is seen too.
    appendFileSync(join(dir, 'ledger.jsonl'), `${JSON.stringify(entry('l3', 'succeeded', now))}\n`);
    await a.refresh();
    expect((await a.byKey('l3'))?.status).toBe('succeeded');
    await a.close();
    expect(readFileSync(join(dir, 'ledger.jsonl'), 'utf8')).toBe(
      `${legacy}${JSON.stringify(entry('l3', 'succeeded', now))}\n`,
    );
    expect(statuses(join(dir, 'ledger-2026-01-20.jsonl'))).toEqual(['l2:succeeded', 'n1:pending']);
  });

  it('two stores on one folder, clocks a little apart, see each other across the date change', async () => {
    const dir = tempDir();
    let nowA = T0;
    let nowB = T0;
    const a = new FileStore(dir, DAY, undefined, () => nowA);
    const b = new FileStore(dir, DAY, undefined, () => nowB);
    await a.put(entry('a1', 'pending', nowA));
    await b.refresh();
    expect((await b.byKey('a1'))?.status).toBe('pending');
    // A's clock passes midnight first: its outcome goes to a segment created after B started,
    // which is tomorrow's for B.
    nowA = T0 + 2000;
    await a.settle(entry('a1', 'succeeded', T0));
    await b.refresh();
    expect((await b.byKey('a1'))?.status).toBe('succeeded');
    // B, still on the earlier date, writes there; for A that is yesterday's segment.
    await b.put(entry('b1', 'pending', nowB));
    await a.refresh();
    expect((await a.byKey('b1'))?.status).toBe('pending');
    nowB = T0 + 3000;
    await b.settle(entry('b1', 'succeeded', T0));
    await a.put(entry('a2', 'pending', nowA));
    await a.refresh();
    expect((await a.byKey('b1'))?.status).toBe('succeeded');
    await b.refresh();
    expect((await b.byKey('a2'))?.status).toBe('pending');
    // Only its own lines since: nothing to re-read, nothing lost.
    await a.put(entry('a3', 'pending', nowA));
    await a.refresh();
    expect(await a.spentSince('mobile:1', 0)).toBe(40);
    await a.close();
    await b.close();
    expect(statuses(join(dir, 'ledger-2026-01-10.jsonl'))).toEqual(['a1:pending', 'b1:pending']);
    expect(statuses(join(dir, 'ledger-2026-01-11.jsonl'))).toEqual([
      'a1:pending', // carried: unsettled when the segment began
      'a1:succeeded',
      'b1:succeeded',
      'a2:pending',
      'a3:pending',
    ]);
    const c = new FileStore(dir, DAY, undefined, () => T0 + 5000);
    expect((await c.byKey('a1'))?.status).toBe('succeeded');
    expect((await c.byKey('b1'))?.status).toBe('succeeded');
    expect((await c.byKey('a3'))?.status).toBe('unknown');
    expect(await c.spentSince('mobile:1', 0)).toBe(40);
    await c.close();
  });

  it('a torn last line in a segment is skipped and counted; the next line starts on a fresh line', async () => {
    const dir = tempDir();
    let now = T0;
    const a = new FileStore(dir, DAY, undefined, () => now);
    await a.put(entry('t1', 'pending', now));
    now = T0 + 2000;
    await a.put(entry('t2', 'pending', now));
    await a.close();
    // Torn at the end of both the earlier segment and the newest one.
    appendFileSync(join(dir, 'ledger-2026-01-10.jsonl'), '{"key":"torn-a","fingerp');
    appendFileSync(join(dir, 'ledger-2026-01-11.jsonl'), '{"key":"torn-b","fingerp');
    const b = new FileStore(dir, DAY, undefined, () => now);
    expect(b.skipped).toBe(2);
    expect((await b.byKey('t1'))?.status).toBe('unknown');
    expect((await b.byKey('t2'))?.status).toBe('unknown');
    await b.put(entry('t3', 'pending', now));
    await b.close();
    const c = new FileStore(dir, DAY, undefined, () => now);
    // Still just the two torn lines: t3 did not join the torn one.
    expect(c.skipped).toBe(2);
    expect((await c.byKey('t3'))?.status).toBe('unknown');
    await c.close();
  });
});
