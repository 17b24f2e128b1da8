import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ToolError } from '../../src/errors.js';
import { runOperatorCli, UsageError } from '../../src/operator-cli.js';
import { QUESTION_TTL_MS, Questions } from '../../src/safety/confirm.js';
import { FileStore, type LedgerEntry, MemoryStore } from '../../src/safety/ledger.js';
import { moneyOutcome, provesRefusal } from '../../src/safety/outcome.js';
import { decide, decideCode, type ReserveAsk } from '../../src/safety/reserve.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'clmcp-reserve-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const NOW = Date.UTC(2026, 5, 1, 12);
const ask = (over: Partial<ReserveAsk> = {}): ReserveAsk => ({
  tool: 'redeem_points',
  fingerprint: 'fp-a',
  meaning: 'm-a',
  customer: 'id:101',
  ids: ['id:101', 'mobile:919000000001'],
  points: 10,
  keyPrefix: 'mcp-rdm',
  resendable: true,
  now: NOW,
  windowMs: 86_400_000,
  limits: {},
  owner: 'test:1:x',
  live: () => false,
  ...over,
});
const entry = (key: string, status: LedgerEntry['status'], over: Partial<LedgerEntry> = {}): LedgerEntry => ({
  key,
  fingerprint: 'fp-a',
  tool: 'redeem_points',
  customer: 'id:101',
  points: 10,
  status,
  at: NOW - 1000,
  updated: NOW - 1000,
  agent_key: false,
  ...over,
});
const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof ToolError) return e.body.code;
    throw e;
  }
  return undefined;
};

async function storeWith(...entries: LedgerEntry[]) {
  const s = new MemoryStore();
  for (const e of entries) await s.put(e);
  return s;
}

describe('reserve rules', () => {
  it('an unknown attempt blocks every other operation for the customer, under any of its identifiers', async () => {
    const s = await storeWith(entry('k1', 'unknown', { ids: ['mobile:919000000001'] }));
    // Another operation, named by the mobile only (a different customer key): still blocked.
    const other = ask({
      fingerprint: 'fp-b',
      meaning: 'm-b',
      customer: 'mobile:919000000001',
      ids: ['mobile:919000000001'],
    });
    expect(await s.peek((v) => codeOf(() => decide(v, other)))).toBe('unresolved_attempt');
    // The identical operation is re-sent with the same key, counted once.
    const d = await s.peek((v) => decide(v, ask()));
    expect(d).toMatchObject({ kind: 'send', entry: { key: 'k1', at: NOW } });
  });

  it('the idempotency window never turns an unknown attempt into a new key', async () => {
    const old = NOW - 10 * 86_400_000;
    const s = await storeWith(entry('k-old', 'unknown', { at: old, updated: old }));
    const d = await s.peek((v) => decide(v, ask({ windowMs: 1000 })));
    expect(d).toMatchObject({ kind: 'send', entry: { key: 'k-old', first_at: old } });
  });

  it('a keyless money call with an unknown outcome is never re-sent: refused until settled', async () => {
    const s = await storeWith(entry('r1', 'unknown', { tool: 'reverse_redemption' }));
    const d = () =>
      s.peek((v) => codeOf(() => decide(v, ask({ tool: 'reverse_redemption', resendable: false }))));
    expect(await d()).toBe('outcome_unknown');
  });

  it('a live pending attempt is waited for; an abandoned one counts as unknown', async () => {
    const s = await storeWith(entry('p1', 'pending', { fingerprint: 'fp-b' }));
    expect((await s.peek((v) => decide(v, ask({ live: () => true })))).kind).toBe('wait');
    expect(await s.peek((v) => codeOf(() => decide(v, ask({ live: () => false }))))).toBe(
      'unresolved_attempt',
    );
  });

  it("an agent's key claimed by a different operation, even in flight, is a conflict", async () => {
    const s = await storeWith(entry('agent-1', 'pending', { fingerprint: 'fp-other', customer: 'id:7' }));
    expect(await s.peek((v) => codeOf(() => decide(v, ask({ agentKey: 'agent-1' }))))).toBe('key_conflict');
  });

  it('the daily cap counts a re-sent attempt once', async () => {
    const s = await storeWith(entry('k1', 'unknown', { points: 60 }));
    const limits = { maxPointsPerCustomerPerDay: 100 };
    expect((await s.peek((v) => decide(v, ask({ points: 60, limits })))).kind).toBe('send');
    expect(
      await s.peek((v) =>
        codeOf(() => decide(v, ask({ fingerprint: 'fp-x', meaning: 'm-x', points: 50, limits }))),
      ),
    ).toBe('unresolved_attempt');
  });
});

describe('limits in the reserve step', () => {
  const limits = { maxPointsPerCustomerPerDay: 100 };
  // A horizon long enough that NOW (a fixed date) is inside it whatever today's date.
  const storeWith = async (...entries: LedgerEntry[]) => {
    const s = new MemoryStore(Date.now() - NOW + 10 * 86_400_000);
    for (const e of entries) await s.put(e);
    return s;
  };
  const confirm = { above: 100, windowMs: 86_400_000, cooldownMs: 3_600_000 };
  const answer = (key: string, a: LedgerEntry['answer'], over: Partial<LedgerEntry> = {}): LedgerEntry =>
    entry(key, 'succeeded', {
      kind: 'answer',
      answer: a,
      points: 0,
      fingerprint: `answer:${key}`,
      meaning: 'm-a',
      ...over,
    });

  it('an unknown attempt re-sent after 24 h counts in the window of its latest send, never against today twice or not at all', async () => {
    const old = entry('k1', 'unknown', { points: 60, at: NOW - 30 * 3_600_000 });
    const today = (points: number) =>
      entry('k2', 'succeeded', { points, fingerprint: 'fp-b', meaning: 'm-b' });
    // Sent 30 h ago: its 60 are not in today's window, so 50 + 60 > 100 is refused.
    const s = await storeWith(old, today(50));
    expect(await s.peek((v) => codeOf(() => decide(v, ask({ points: 60, limits }))))).toBe(
      'cap_per_customer_per_day',
    );
    // Sent an hour ago: in the window already, counted once: 40 + 60 fits.
    const s2 = await storeWith({ ...old, at: NOW - 3_600_000 }, today(40));
    expect((await s2.peek((v) => decide(v, ask({ points: 60, limits })))).kind).toBe('send');
  });

  it('a refusal names the limit, its value, what is left and when it frees up', async () => {
    const s = await storeWith(
      entry('k1', 'succeeded', { points: 70, at: NOW - 3_600_000, fingerprint: 'fp-z', meaning: 'm-z' }),
    );
    let body: any;
    await s.peek((v) => {
      try {
        decide(v, ask({ points: 40, limits }));
      } catch (e) {
        body = (e as ToolError).body;
      }
    });
    expect(body.limit).toEqual({
      name: 'CAPILLARY_MAX_POINTS_PER_CUSTOMER_PER_DAY',
      value: 100,
      left: 30,
      frees_at: new Date(NOW - 3_600_000 + 86_400_000 + 1).toISOString(),
    });
  });

  it('the per-server cap counts every customer', async () => {
    const s = await storeWith(
      entry('k1', 'succeeded', { customer: 'id:7', fingerprint: 'fp-7', meaning: 'm-7', points: 90 }),
    );
    const server = { maxPointsPerServerPerDay: 100 };
    expect(await s.peek((v) => codeOf(() => decide(v, ask({ points: 20, limits: server }))))).toBe(
      'cap_per_server_per_day',
    );
    expect((await s.peek((v) => decide(v, ask({ points: 10, limits: server })))).kind).toBe('send');
  });

  it('confirmation: the budget counts the window, this call included; a yes is spent by one attempt, a failed one gives it back', async () => {
    const s = await storeWith(entry('k1', 'succeeded', { points: 80, fingerprint: 'fp-b', meaning: 'm-b' }));
    const d = await s.peek((v) => decide(v, ask({ points: 30, confirm })));
    expect(d).toMatchObject({ kind: 'ask', need: { why: 'budget', moved: 80, points: 30, above: 100 } });
    await s.put(answer('q-1', 'accept'));
    const sent = await s.reserve((v) => decide(v, ask({ points: 30, confirm })));
    expect(sent).toMatchObject({ kind: 'send', entry: { approval: 'q-1' } });
    if (sent.kind !== 'send') throw new Error('unreachable');
    // A failed attempt moved nothing: the yes is given back to the operation.
    await s.settle({ ...sent.entry, status: 'failed' });
    const again = await s.reserve((v) => decide(v, ask({ points: 30, confirm })));
    expect(again).toMatchObject({ kind: 'send', entry: { approval: 'q-1' } });
    if (again.kind !== 'send') throw new Error('unreachable');
    // Once spent by a success, the same operation sent again (past the replay window) asks again.
    await s.settle({ ...again.entry, status: 'succeeded', result: {} });
    expect(
      (await s.peek((v) => decide(v, ask({ points: 30, confirm, windowMs: 0, now: NOW + 1000 })))).kind,
    ).toBe('ask');
  });

  it('a no is remembered under every identity of the customer for the cooldown, whatever the points', async () => {
    const s = await storeWith(answer('q-1', 'decline', { ids: ['mobile:919000000001'], at: NOW - 600_000 }));
    const small = ask({ points: 1, confirm, fingerprint: 'fp-s', meaning: 'm-s' });
    expect(await s.peek((v) => decide(v, small))).toMatchObject({ kind: 'ask', need: { why: 'cooldown' } });
    expect(await s.peek((v) => decide(v, { ...small, now: NOW + 3_600_000 }))).toMatchObject({
      kind: 'send',
    });
  });

  it('a reversal of all always asks; validation codes are counted per customer per hour', async () => {
    const s = await storeWith();
    expect(await s.peek((v) => decide(v, ask({ points: 0, moved: 'all', confirm })))).toMatchObject({
      kind: 'ask',
      need: { why: 'all' },
    });
    // Once a reversal of all is in the window, every call for the customer asks: its amount is not known.
    await s.put(
      entry('rev-all', 'succeeded', { points: 0, moved: 'all', fingerprint: 'fp-r', meaning: 'm-r' }),
    );
    expect(await s.peek((v) => decide(v, ask({ points: 1, confirm })))).toMatchObject({ kind: 'ask' });
    const code = {
      tool: 'issue_redemption_code',
      customer: 'id:101',
      ids: ['id:101'],
      limits: { maxCodesPerCustomerPerHour: 2 },
      owner: 'o',
    };
    for (const t of [0, 1]) await s.reserve((v) => decideCode(v, { ...code, now: NOW + t }));
    expect(await s.peek((v) => codeOf(() => decideCode(v, { ...code, now: NOW + 2 })))).toBe(
      'code_rate_limited',
    );
    expect((await s.peek((v) => decideCode(v, { ...code, now: NOW + 3_600_001 }))).kind).toBe('send');
  });
});

describe('confirmation questions', () => {
  it("an answer counts only for the server's own question: once, in time, about the same operation", () => {
    const qs = new Questions();
    const a = qs.ask('fp-a', NOW);
    expect(a.id).toMatch(/^q-[0-9a-f-]{36}$/);
    expect(qs.ask('fp-a', NOW).id).not.toBe(a.id);
    expect(qs.take(a.id, 'fp-a', NOW + 1000)).toBe(true);
    expect(qs.take(a.id, 'fp-a', NOW + 1000)).toBe(false);
    const late = qs.ask('fp-a', NOW);
    expect(qs.take(late.id, 'fp-a', NOW + QUESTION_TTL_MS + 1)).toBe(false);
    const other = qs.ask('fp-a', NOW);
    expect(qs.take(other.id, 'fp-b', NOW)).toBe(false);
    expect(qs.take('q-guessed', 'fp-a', NOW)).toBe(false);
  });
});

describe('outcome rules', () => {
  const err = (status: number, reading?: ConstructorParameters<typeof ToolError>[1]) =>
    new ToolError(
      {
        code: status,
        message: 'x',
        retryable: false,
        source: 'upstream',
        outcome: 'failed',
        http_status: status,
      },
      reading,
    );
  it('failed only on a documented refusal in Capillary envelope; anything else after sending is unknown', () => {
    expect(moneyOutcome(err(200, { status: 200, form: 'v1.1', code: 813, level: 'item' }), false)).toBe(
      'failed',
    );
    expect(moneyOutcome(err(500, { status: 500, form: 'v1.1', code: 816, level: 'item' }), false)).toBe(
      'failed',
    );
    for (const status of [503, 502, 504, 408, 499])
      expect(moneyOutcome(err(status, { status, form: 'v1.1', code: 813, level: 'item' }), false)).toBe(
        'unknown',
      );
    expect(moneyOutcome(err(500, { status: 500, form: 'v1.1', code: 500, level: 'request' }), false)).toBe(
      'unknown',
    );
    expect(moneyOutcome(err(400, { status: 400, form: 'none' }), false)).toBe('unknown');
    expect(moneyOutcome(err(404), false)).toBe('unknown');
    expect(moneyOutcome(new Error('boom'), false)).toBe('unknown');
    expect(provesRefusal({ status: 401, form: 'v1.1', code: 401, level: 'request' })).toBe(true);
    expect(provesRefusal({ status: 503, form: 'v1.1', code: 401, level: 'request' })).toBe(false);
    expect(moneyOutcome(err(429, { status: 429, form: 'none' }), false)).toBe('unknown');
  });
  it('a re-send is settled only by an answer about its key: a success or a refusal of the item', () => {
    const resend = (status: number, reading: ConstructorParameters<typeof ToolError>[1]) =>
      moneyOutcome(err(status, reading), true);
    expect(resend(200, { status: 200, form: 'v1.1', code: 813, level: 'item' })).toBe('failed');
    expect(resend(401, { status: 401, form: 'v1.1', code: 401, level: 'request' })).toBe('unknown');
    expect(resend(429, { status: 429, form: 'v1.1', code: 429, level: 'request' })).toBe('unknown');
    expect(resend(503, { status: 503, form: 'none' })).toBe('unknown');
  });
});

describe('operator settle', () => {
  it('lists unresolved attempts, settles one as not applied, and records who and why', async () => {
    const dir = tempDir();
    const a = new FileStore(dir);
    await a.put(entry('k-unknown', 'unknown', { at: Date.now(), updated: Date.now() }));
    await a.close();
    const env = { CAPILLARY_DATA_DIR: dir };
    let out = '';
    await runOperatorCli(['unresolved'], env, (s) => {
      out += s;
    });
    expect(out).toContain('k-unknown');
    await expect(
      runOperatorCli(['settle', '--key', 'k-unknown', '--as', 'maybe'], env, () => {}),
    ).rejects.toThrow(UsageError);
    await runOperatorCli(
      [
        'settle',
        '--key',
        'k-unknown',
        '--as',
        'not-applied',
        '--by',
        'ops-anna',
        '--reason',
        'balance unchanged',
      ],
      env,
      () => {},
    );
    const b = new FileStore(dir);
    expect((await b.byKey('k-unknown'))?.status).toBe('failed');
    expect(await b.unresolvedAll()).toEqual([]);
    await b.close();
    const audit = readFileSync(join(dir, 'audit.jsonl'), 'utf8');
    expect(audit).toContain('"outcome":"settled_not_applied"');
    expect(audit).toContain('ops-anna');
  });
});
