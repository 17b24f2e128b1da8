import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeCapillary, FaultKind } from './fake-capillary.js';
import {
  baseArgs,
  bookProblems,
  type CallResult,
  callTool,
  closeAll,
  commitsByOp,
  describeResult,
  fakeAndServer,
  KEYED,
  type Mcp,
  MONEY_TOOLS,
  type MoneyTool,
  opSig,
  ROUTE,
  report,
  subject,
  successProblems,
  VARIATIONS,
} from './harness.js';

/**
 * Calls at once on one server: identical, cosmetically different, conflicting (one agent
 * external_reference_number with different arguments), and other operations of a customer while
 * one of its attempts is unknown. Every case is judged by the fake's books.
 */

let fake: FakeCapillary;
let m: Mcp;
beforeAll(async () => {
  ({ fake, m } = await fakeAndServer());
});
afterAll(() => closeAll(m, fake));

/**
 * Problems with calls made at once for one customer: protocol errors, successes that are not
 * their operation's or customer's, and the fake's books (each operation applied at most once).
 */
function problemsOf(
  tool: MoneyTool,
  cid: number,
  calls: Array<Record<string, any>>,
  rs: CallResult[],
): string[] {
  const out: string[] = [];
  for (const [i, r] of rs.entries()) {
    if (r.kind === 'protocol')
      out.push(`${tool} #${i}: protocol error instead of a tool result: ${r.protocol}`);
    if (r.kind === 'ok')
      for (const p of successProblems(fake, tool, cid, calls[i], r.sc)) out.push(`${tool} #${i}: ${p}`);
  }
  return [...out, ...bookProblems(fake, cid, tool)];
}

const opCommits = (tool: MoneyTool, cid: number, args: Record<string, any>) =>
  commitsByOp(fake, cid).get(opSig(tool, cid, args))?.length ?? 0;

describe('identical calls at once', () => {
  for (const tool of MONEY_TOOLS)
    for (const first of ['slow', 'hang'] as FaultKind[])
      it(`${tool}: 8 identical calls at once, the first attempt ${first === 'slow' ? 'slow' : 'applied, then no answer'}`, async () => {
        const s = subject(fake, tool);
        const cid = s.customer.id;
        const args = baseArgs(tool, s);
        fake.script(cid, ROUTE[tool], [first === 'slow' ? { kind: 'slow', delayMs: 300 } : { kind: 'hang' }]);
        const rs = await Promise.all(Array.from({ length: 8 }, () => callTool(m, tool, args)));
        const problems = problemsOf(
          tool,
          cid,
          rs.map(() => args),
          rs,
        );
        // Successes all report the one redemption.
        const ids = new Set(
          rs.filter((r) => r.kind === 'ok').map((r) => r.sc.redemption_id ?? r.sc.request_id),
        );
        if (ids.size > 1)
          problems.push(`successes report ${ids.size} different results: ${[...ids].join(', ')}`);
        // Keyed: the identical repeat brings it to an end, once.
        if (KEYED[tool]) {
          const last = await callTool(m, tool, args);
          if (last.kind !== 'ok') problems.push(`identical repeat afterwards: ${describeResult(last)}`);
        }
        if (opCommits(tool, cid, args) !== 1)
          problems.push(`the operation was applied ${opCommits(tool, cid, args)} times upstream, not once`);
        expect(problems.length, report(problems)).toBe(0);
      });
});

describe('cosmetically different repeats at once', () => {
  for (const tool of MONEY_TOOLS)
    it(`${tool}: every cosmetic variation at once, the first attempt slow`, async () => {
      const s = subject(fake, tool);
      const cid = s.customer.id;
      const base = baseArgs(tool, s);
      const calls = VARIATIONS[tool].filter((v) => v.same).map((v) => v.apply(base, s));
      fake.script(cid, ROUTE[tool], [{ kind: 'slow', delayMs: 300 }]);
      const rs = await Promise.all(calls.map((args) => callTool(m, tool, args)));
      const problems = problemsOf(tool, cid, calls, rs);
      expect(problems.length, report(problems)).toBe(0);
      expect(opCommits(tool, cid, base)).toBe(1);
    });
});

describe('one agent external_reference_number, different arguments, at once', () => {
  for (const tool of ['redeem_points', 'request_points_redemption'] as MoneyTool[])
    it(`${tool}: never two successes, never another customer's result (10 rounds)`, async () => {
      const problems: string[] = [];
      for (let round = 0; round < 10; round++) {
        const a = subject(fake, tool);
        const b = subject(fake, tool);
        const key = `agent-key-${tool}-${round}-${Date.now()}`;
        const calls: Array<{ cid: number; args: Record<string, any> }> = [
          { cid: a.customer.id, args: { ...baseArgs(tool, a, 100), external_reference_number: key } },
          { cid: b.customer.id, args: { ...baseArgs(tool, b, 50), external_reference_number: key } },
          { cid: a.customer.id, args: { ...baseArgs(tool, a, 70), external_reference_number: key } },
        ];
        // Widen the window: the first attempts are held a little before they answer.
        for (const c of [a, b]) fake.script(c.customer.id, ROUTE[tool], [{ kind: 'slow', delayMs: 60 }]);
        const rs = await Promise.all(calls.map((c) => callTool(m, tool, c.args)));
        const label = `${tool} round ${round}`;
        const ok = rs.filter((r) => r.kind === 'ok');
        if (ok.length > 1)
          problems.push(`${label}: ${ok.length} successes for one key used by different operations`);
        for (const [i, r] of rs.entries()) {
          if (r.kind === 'protocol') problems.push(`${label} #${i}: protocol error ${r.protocol}`);
          if (r.kind === 'ok')
            for (const p of successProblems(fake, tool, calls[i].cid, calls[i].args, r.sc))
              problems.push(`${label} #${i}: ${p}`);
        }
        const withKey = fake.commitsForKey(key).length;
        if (withKey > 1) problems.push(`${label}: the key was applied ${withKey} times upstream`);
        for (const c of [a, b]) problems.push(...bookProblems(fake, c.customer.id, label));
      }
      expect(problems.length, report(problems)).toBe(0);
    });
});

describe("another operation of the customer while one attempt's outcome is unknown", () => {
  for (const tool of MONEY_TOOLS)
    it(`${tool}: other operations at once are refused (unresolved_attempt), never sent; the identical repeat resolves it`, async () => {
      const s = subject(fake, tool);
      const cid = s.customer.id;
      const base = baseArgs(tool, s);
      fake.script(cid, ROUTE[tool], ['reset']);
      const first = await callTool(m, tool, base);
      const problems: string[] = [];
      if (first.error?.outcome !== 'unknown')
        problems.push(`a reset after commit was reported as ${describeResult(first)}, not unknown`);
      const others = VARIATIONS[tool].filter((v) => !v.same).map((v) => v.apply(base, s));
      const before = fake.attemptsFor(cid).length;
      // Other operations at once (and, for a keyless call, its identical repeats: never re-sent).
      const calls = KEYED[tool] ? [...others, ...others] : [base, ...others, base, ...others, base];
      const rs = await Promise.all(calls.map((args) => callTool(m, tool, args)));
      for (const [i, r] of rs.entries()) {
        if (calls[i] === base) continue;
        if (r.error?.code !== 'unresolved_attempt')
          problems.push(
            `other operation #${i} while unknown: ${describeResult(r)}, expected unresolved_attempt`,
          );
      }
      if (fake.attemptsFor(cid).length > before)
        problems.push(
          `${fake.attemptsFor(cid).length - before} request(s) were sent while the attempt was unknown`,
        );
      // A keyed attempt: its identical repeats at once resolve it, once.
      const repeats = KEYED[tool] ? [base, base, base] : [];
      const rr = await Promise.all(repeats.map((args) => callTool(m, tool, args)));
      if (KEYED[tool] && !rr.some((r) => r.kind === 'ok'))
        problems.push(
          `identical repeats at once did not resolve the attempt: ${rr.map(describeResult).join(', ')}`,
        );
      calls.push(...repeats);
      rs.push(...rr);
      problems.push(...problemsOf(tool, cid, calls, rs));
      expect(problems.length, report(problems)).toBe(0);
      expect(opCommits(tool, cid, base)).toBe(1);
    });
});

describe('different operations of one customer at once (no faults)', () => {
  for (const tool of MONEY_TOOLS)
    it(`${tool}: each applied at most once, each success its own`, async () => {
      const s = subject(fake, tool);
      const cid = s.customer.id;
      const base = baseArgs(tool, s);
      const calls = [base, ...VARIATIONS[tool].filter((v) => !v.same).map((v) => v.apply(base, s))];
      for (const _ of calls) fake.script(cid, ROUTE[tool], [{ kind: 'slow', delayMs: 40 }]);
      const twice = calls.flatMap((args) => [args, args]);
      const rs = await Promise.all(twice.map((args) => callTool(m, tool, args)));
      const problems = problemsOf(tool, cid, twice, rs);
      expect(problems.length, report(problems)).toBe(0);
    });
});

describe('the harness itself', () => {
  it('checks every result against the listed outputSchema', () => {
    const ok = { environment: 'live', item_status: { success: true, code: 800, message: 'Points Redeemed' } };
    expect(m.checkOutput('redeem_points', ok)).toBeUndefined();
    const odd = {
      environment: 'live',
      item_status: { success: true, code: 'OK', message: 'Points Redeemed' },
    };
    expect(m.checkOutput('redeem_points', odd)).toMatch(/outputSchema/);
  });
});
