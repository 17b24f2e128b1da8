import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ToolError } from '../../src/errors.js';
import { runOperatorCli, UsageError } from '../../src/operator-cli.js';
import { FileStore, type LedgerEntry, MemoryStore } from '../../src/safety/ledger.js';
import { moneyOutcome, provesRefusal } from '../../src/safety/outcome.js';
import { decide, type ReserveAsk } from '../../src/safety/reserve.js';

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
  keySentUpstream: true,
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
      s.peek((v) => codeOf(() => decide(v, ask({ tool: 'reverse_redemption', keySentUpstream: false }))));
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
    expect(b.unresolvedAll()).toEqual([]);
    await b.close();
    const audit = readFileSync(join(dir, 'audit.jsonl'), 'utf8');
    expect(audit).toContain('"outcome":"settled_not_applied"');
    expect(audit).toContain('ops-anna');
  });
});
