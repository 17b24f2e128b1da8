import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeCapillary } from './fake-capillary.js';
import {
  baseArgs,
  callTool,
  commitsByOp,
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
  startServer,
  subject,
  tempDir,
  VARIATIONS,
} from './harness.js';

/**
 * kill -9 of the server at each step of a money call, then a restart on the same data directory
 * (or the same PostgreSQL ledger)
 * and repeats (identical, cosmetic, another operation, identical). Steps: while asking the human
 * (nothing sent), after the request reached the API but before it was applied, after it was
 * applied but before the answer, and right after the answer. Judged by the fake's books.
 */

type Step = 'asking the human' | 'sent, not applied' | 'applied, before the answer' | 'after the answer';
const STEPS: Step[] = [
  'asking the human',
  'sent, not applied',
  'applied, before the answer',
  'after the answer',
];

let fake: FakeCapillary;
beforeAll(async () => {
  fake = await startFake();
});
afterAll(async () => {
  await fake?.close();
});

describe.each(LEDGERS.flatMap((ledger) => MONEY_TOOLS.map((tool) => [tool, ledger] as const)))(
  'kill -9 at each step: %s, %s ledger',
  (tool: MoneyTool, ledger) => {
    const dataDir = tempDir('adv-kill-');
    let ledgerVars: Record<string, string> = {};
    beforeAll(async () => {
      ledgerVars = await ledgerEnv(ledger);
    });
    const env = () => serverEnv(fake, dataDir, ledgerVars);
    let live: Mcp | undefined;
    afterAll(async () => {
      await live?.close().catch(() => {});
    });

    it.each(STEPS)('%s, then restart and repeat', async (step) => {
      const ref = new Referee(fake);
      const s = subject(fake, tool);
      const cid = s.customer.id;
      const base = baseArgs(tool, s);
      const label = `${tool} killed ${step}`;

      // The process to kill. Asking the human needs a confirmation threshold and a client that
      // answers elicitation; it never answers here.
      let asked: () => void = () => {};
      const askedP = new Promise<void>((r) => {
        asked = r;
      });
      const victim =
        step === 'asking the human'
          ? await startServer(
              { ...env(), CAPILLARY_APPROVAL: 'elicit', CAPILLARY_CONFIRM_ABOVE_POINTS: '1' },
              { capabilities: { elicitation: {} } },
            )
          : await startServer(env());
      if (step === 'asking the human')
        victim.client.setRequestHandler(ElicitRequestSchema, () => {
          asked();
          return new Promise(() => {});
        });

      if (step === 'after the answer') {
        await ref.call(victim, `${label} | call 1`, tool, cid, base);
      } else {
        if (step === 'sent, not applied') fake.script(cid, ROUTE[tool], [{ kind: 'hang', commit: false }]);
        if (step === 'applied, before the answer') fake.script(cid, ROUTE[tool], ['hang']);
        const call = callTool(victim, tool, base);
        if (step === 'asking the human') await askedP;
        else await fake.nextAttempt(cid, ROUTE[tool]);
        await victim.kill();
        await call;
        // The agent never got an answer: from its side the outcome is unknown once anything was sent.
        ref.assume(tool, cid, base, step === 'asking the human' ? 'none' : 'unknown');
      }
      if (step === 'after the answer') await victim.kill();

      await live?.close().catch(() => {});
      live = await startServer(env());
      const plus = VARIATIONS[tool].find((v) => v.name === 'plus-mobile')!.apply(base, s);
      const other = VARIATIONS[tool].find((v) => !v.same)!.apply(base, s);
      await ref.call(live, `${label} | restarted: identical`, tool, cid, base);
      await ref.call(live, `${label} | restarted: plus-mobile`, tool, cid, plus);
      await ref.call(
        live,
        `${label} | restarted: ${VARIATIONS[tool].find((v) => !v.same)!.name}`,
        tool,
        cid,
        other,
      );
      const last = await ref.call(live, `${label} | restarted: identical again`, tool, cid, base);
      ref.finish(cid, label);

      const applied = commitsByOp(fake, cid).get(opSig(tool, cid, base))?.length ?? 0;
      // Nothing was sent before the kill: the operation is still to be done, and the repeat does it.
      // A keyed call can always be ended by its identical repeat. A keyless one whose request may
      // have been applied is never sent again: at most once.
      const mustComplete = KEYED[tool] || step !== 'sent, not applied';
      if (mustComplete && applied !== 1)
        ref.violations.push(`${label}: applied ${applied} times upstream, not once`);
      if (KEYED[tool] && last.kind !== 'ok')
        ref.violations.push(`${label}: the identical repeat after the restart did not resolve the operation`);
      expect(ref.violations.length, report(ref.violations)).toBe(0);
    });
  },
);
