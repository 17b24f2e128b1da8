import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeCapillary } from './fake-capillary.js';
import {
  baseArgs,
  bookProblems,
  callTool,
  commitsByOp,
  describeResult,
  KEYED,
  LEDGERS,
  ledgerEnv,
  type Mcp,
  MONEY_TOOLS,
  type MoneyTool,
  opSig,
  Referee,
  ROUTE,
  report,
  serverEnv,
  startFake,
  startOrRefuse,
  subject,
  successProblems,
  tempDir,
  VARIATIONS,
} from './harness.js';

/**
 * Two and three server processes (stdio, as a desktop client and a second client would start
 * them) on one CAPILLARY_DATA_DIR, and on one PostgreSQL ledger. Either they share the ledger safely, or every process after the
 * first refuses to start and says how to share one ledger. Judged by the fake's books.
 */

const ROUNDS = Number(process.env.ADV_ROUNDS) || 20;

describe.each(LEDGERS.flatMap((ledger) => [2, 3].map((n) => [n, ledger] as const)))(
  '%i server processes on one %s ledger',
  (n, ledger) => {
    let fake: FakeCapillary;
    const procs: Mcp[] = [];
    const refusals: string[] = [];
    beforeAll(async () => {
      fake = await startFake();
      const env = serverEnv(fake, tempDir('adv-multi-'), await ledgerEnv(ledger));
      for (let i = 0; i < n; i++) {
        const s = await startOrRefuse(env);
        if (s.mcp) procs.push(s.mcp);
        else refusals.push(s.refused);
      }
    }, 60_000);
    afterAll(async () => {
      for (const p of procs) await p.close().catch(() => {});
      await fake?.close();
    });

    it('every process started, or a later one refused and said how to share one ledger', () => {
      expect(procs.length).toBeGreaterThan(0);
      for (const r of refusals) expect(r).toMatch(/CAPILLARY_DATA_DIR|data dir/i);
    });

    for (const tool of MONEY_TOOLS)
      it(`${tool}: the identical call on each process in turn is applied once`, async () => {
        const ref = new Referee(fake);
        const s = subject(fake, tool);
        const cid = s.customer.id;
        const base = baseArgs(tool, s);
        const plus = VARIATIONS[tool].find((v) => v.name === 'plus-mobile')!.apply(base, s);
        for (const [i, p] of procs.entries()) await ref.call(p, `process ${i} identical`, tool, cid, base);
        for (const [i, p] of procs.entries()) await ref.call(p, `process ${i} plus-mobile`, tool, cid, plus);
        for (const r of ref.results)
          if (r.r.kind !== 'ok')
            ref.violations.push(`${r.label}: ${describeResult(r.r)}, expected the replay`);
        ref.finish(cid, tool);
        expect(ref.violations.length, report(ref.violations)).toBe(0);
        expect(commitsByOp(fake, cid).get(opSig(tool, cid, base))?.length).toBe(1);
      });

    for (const tool of MONEY_TOOLS)
      it(`${tool}: an attempt left unknown on one process binds the others`, async () => {
        const ref = new Referee(fake);
        const s = subject(fake, tool);
        const cid = s.customer.id;
        const base = baseArgs(tool, s);
        const other = VARIATIONS[tool].find((v) => !v.same)!.apply(base, s);
        fake.script(cid, ROUTE[tool], ['reset']);
        await ref.call(procs[0], 'process 0 first attempt (applied, answer lost)', tool, cid, base);
        for (const [i, p] of procs.entries()) {
          await ref.call(p, `process ${i} another operation`, tool, cid, other);
          await ref.call(p, `process ${i} identical`, tool, cid, base);
        }
        ref.finish(cid, tool);
        if (KEYED[tool] && ref.status(tool, cid, base) !== 'succeeded')
          ref.violations.push('the identical repeat on another process did not resolve the keyed attempt');
        expect(ref.violations.length, report(ref.violations)).toBe(0);
        expect(commitsByOp(fake, cid).get(opSig(tool, cid, base))?.length).toBe(1);
      });

    for (const tool of ['redeem_points', 'request_points_redemption'] as MoneyTool[])
      it(`${tool}: ${ROUNDS} rounds of the identical call at once on every process`, async () => {
        const problems: string[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          const s = subject(fake, tool);
          const cid = s.customer.id;
          const args = baseArgs(tool, s);
          fake.script(cid, ROUTE[tool], [{ kind: 'slow', delayMs: 30 }]);
          const rs = await Promise.all(procs.map((p) => callTool(p, tool, args)));
          for (const [i, r] of rs.entries()) {
            if (r.kind === 'protocol')
              problems.push(`round ${round} process ${i}: protocol error ${r.protocol}`);
            if (r.kind === 'ok')
              for (const p of successProblems(fake, tool, cid, args, r.sc))
                problems.push(`round ${round} process ${i}: ${p}`);
          }
          problems.push(...bookProblems(fake, cid, `round ${round}`));
        }
        expect(problems.length, report(problems)).toBe(0);
      });

    it('redeem_points: one agent key for different customers at once on different processes (10 rounds)', async () => {
      const problems: string[] = [];
      for (let round = 0; round < 10; round++) {
        const subjects = procs.map(() => subject(fake, 'redeem_points'));
        const key = `agent-multi-${n}-${round}-${Date.now()}`;
        const calls = subjects.map((s, i) => ({
          cid: s.customer.id,
          args: { ...baseArgs('redeem_points', s, 100 + i * 10), external_reference_number: key },
        }));
        for (const s of subjects) fake.script(s.customer.id, 'redeem', [{ kind: 'slow', delayMs: 30 }]);
        const rs = await Promise.all(calls.map((c, i) => callTool(procs[i], 'redeem_points', c.args)));
        const ok = rs.filter((r) => r.kind === 'ok').length;
        if (ok > 1) problems.push(`round ${round}: ${ok} successes for one key used by different operations`);
        for (const [i, r] of rs.entries())
          if (r.kind === 'ok')
            for (const p of successProblems(fake, 'redeem_points', calls[i].cid, calls[i].args, r.sc))
              problems.push(`round ${round} process ${i}: ${p}`);
      }
      expect(problems.length, report(problems)).toBe(0);
    });
  },
);
