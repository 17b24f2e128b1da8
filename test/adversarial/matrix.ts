import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  commitsByDefault,
  type FakeCapillary,
  type Fault,
  type FaultKind,
  refuses,
} from './fake-capillary.js';
import {
  baseArgs,
  closeAll,
  commitsByOp,
  fakeAndServer,
  faultsUnderTest,
  KEYED,
  type Mcp,
  type MoneyTool,
  opSig,
  Referee,
  ROUTE,
  report,
  subject,
  VARIATIONS,
  type Variation,
} from './harness.js';

/**
 * Every fault kind at every point of one money tool: the first attempt, the re-send, the re-send
 * of the re-send (keyed tools only: a keyless call is never re-sent, which every case checks),
 * each followed by repeats that are identical, cosmetically different and meaningfully different.
 * Each scenario runs on a fresh customer, so all scenarios of one fault run at once on one server.
 *
 * A scenario: the call (and its identical re-sends) up to the faulted attempt; the variation; the
 * call again; the variation again; the call a last time. Earlier attempts are lost answers: a
 * reset after commit (or, before a refusal, a reset before commit, as the real API would never
 * refuse a key it applied).
 */

export interface ScenarioSpec {
  tool: MoneyTool;
  fault: FaultKind;
  point: 1 | 2 | 3;
  variation: Variation;
}

export async function runScenario(
  fake: FakeCapillary,
  m: Mcp,
  ref: Referee,
  spec: ScenarioSpec,
): Promise<void> {
  const { tool, fault, point, variation } = spec;
  const label = `${tool} ${fault} @${['', 'first attempt', 're-send', 're-send of re-send'][point]} then ${variation.name}`;
  const s = subject(fake, tool);
  const cid = s.customer.id;
  const base = baseArgs(tool, s);
  const varied = variation.apply(base, s);
  const commit = commitsByDefault(fault);
  const script: Fault[] = [];
  for (let i = 1; i < point; i++) script.push({ kind: 'reset', commit });
  script.push({ kind: fault });
  fake.script(cid, ROUTE[tool], script);

  const first = await ref.call(m, `${label} | call 1`, tool, cid, base);
  for (let i = 2; i <= point; i++) await ref.call(m, `${label} | call ${i} (identical)`, tool, cid, base);
  await ref.call(m, `${label} | ${variation.name}`, tool, cid, varied);
  await ref.call(m, `${label} | identical after ${variation.name}`, tool, cid, base);
  await ref.call(m, `${label} | ${variation.name} again`, tool, cid, varied);
  const last = await ref.call(m, `${label} | last identical`, tool, cid, base);

  // A documented refusal on the first attempt is a failure: nothing moved.
  if (refuses(fault) && point === 1 && tool === 'redeem_points' && first.error?.outcome !== 'failed')
    ref.violations.push(`${label} | call 1: a documented refusal (${fault}) was not reported as failed`);
  // Liveness: a keyed call can always be brought to an end by its identical repeat.
  if (KEYED[tool] && last.kind !== 'ok')
    ref.violations.push(`${label} | last identical: the identical repeat did not resolve the operation`);
  // The operation happened exactly once upstream (a suite that sends nothing cannot pass).
  const mine = commitsByOp(fake, cid).get(opSig(tool, cid, base)) ?? [];
  if (mine.length === 0) ref.violations.push(`${label}: the operation never happened upstream`);
  if (fake.pending(cid, ROUTE[tool]) && KEYED[tool])
    ref.violations.push(`${label}: the scripted faults were not all reached (no re-send happened)`);
  ref.finish(cid, label);
}

/** The points a tool is tried at: keyless calls are never re-sent, so only the first attempt. */
export const pointsFor = (tool: MoneyTool): Array<1 | 2 | 3> => (KEYED[tool] ? [1, 2, 3] : [1]);

/** One describe per tool: one fake, one server process, one `it` per fault kind. */
export function defineMatrix(tool: MoneyTool): void {
  describe(`never twice: ${tool}, every fault at every point`, () => {
    let fake: FakeCapillary;
    let m: Mcp;
    beforeAll(async () => {
      ({ fake, m } = await fakeAndServer());
    });
    afterAll(() => closeAll(m, fake));

    it.each(faultsUnderTest())(
      '%s',
      async (fault) => {
        const ref = new Referee(fake);
        const specs: ScenarioSpec[] = [];
        for (const point of pointsFor(tool))
          for (const variation of VARIATIONS[tool]) specs.push({ tool, fault, point, variation });
        await Promise.all(specs.map((spec) => runScenario(fake, m, ref, spec)));
        expect(ref.violations.length, report(ref.violations)).toBe(0);
      },
      60_000,
    );
  });
}
