import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeCapillary } from './fake-capillary.js';
import {
  baseArgs,
  closeAll,
  commitsByOp,
  fakeAndServer,
  KEYED,
  type Mcp,
  MONEY_TOOLS,
  type MoneyTool,
  opSig,
  Referee,
  ROUTE,
  report,
  sleep,
  subject,
  VARIATIONS,
} from './harness.js';

/**
 * The idempotency window's edge (CAPILLARY_IDEMPOTENCY_WINDOW_SECONDS=2): an attempt whose
 * outcome is unknown stays that attempt at any age. Past the window, its identical (or
 * cosmetically different) repeat is re-sent with the same key, never a new one; a keyless one is
 * still never sent again. The window is measured however the server likes: the cases wait well
 * past it from the first attempt and from the last one.
 */

const WINDOW_S = 2;
const PAST = WINDOW_S * 1000 + 700;

let fake: FakeCapillary;
let m: Mcp;
beforeAll(async () => {
  ({ fake, m } = await fakeAndServer({ CAPILLARY_IDEMPOTENCY_WINDOW_SECONDS: String(WINDOW_S) }));
});
afterAll(() => closeAll(m, fake));

async function unknownThenLate(tool: MoneyTool, repeat: 'identical' | 'plus-mobile' | 'notes-reworded') {
  const ref = new Referee(fake);
  const s = subject(fake, tool);
  const cid = s.customer.id;
  const base = baseArgs(tool, s);
  const label = `${tool} unknown, then ${repeat} past the window`;
  fake.script(cid, ROUTE[tool], ['reset']);
  await ref.call(m, `${label} | call 1`, tool, cid, base);
  await sleep(PAST);
  const variation = VARIATIONS[tool].find((v) => v.name === repeat) ?? VARIATIONS[tool][0];
  const late = await ref.call(m, `${label} | ${repeat}`, tool, cid, variation.apply(base, s));
  await ref.call(m, `${label} | identical`, tool, cid, base);
  ref.finish(cid, label);
  if (KEYED[tool] && late.kind !== 'ok')
    ref.violations.push(`${label}: the late repeat did not resolve the attempt`);
  return { ref, applied: commitsByOp(fake, cid).get(opSig(tool, cid, base))?.length ?? 0 };
}

describe('the idempotency window never turns an unknown attempt into a new one', () => {
  it('every money tool: unknown, then the identical and cosmetic repeats well past the window', async () => {
    const cases: Array<[MoneyTool, 'identical' | 'plus-mobile' | 'notes-reworded']> = [];
    for (const tool of MONEY_TOOLS)
      for (const repeat of ['identical', 'plus-mobile', 'notes-reworded'] as const)
        if (repeat !== 'notes-reworded' || tool !== 'reverse_redemption') cases.push([tool, repeat]);
    const out = await Promise.all(cases.map(([tool, repeat]) => unknownThenLate(tool, repeat)));
    const violations = out.flatMap((o) => o.ref.violations);
    for (const [i, o] of out.entries())
      if (o.applied !== 1)
        violations.push(`${cases[i].join(' ')}: applied ${o.applied} times upstream, not once`);
    expect(violations.length, report(violations)).toBe(0);
  }, 30_000);

  it('redeem_points: re-sends spread across the window (lost, applied and lost, lost, then late)', async () => {
    const ref = new Referee(fake);
    const s = subject(fake, 'redeem_points');
    const cid = s.customer.id;
    const base = baseArgs('redeem_points', s);
    fake.script(cid, 'redeem', [{ kind: 'reset', commit: false }, 'reset', 'reset']);
    await ref.call(m, 'call 1 (lost before it was applied)', 'redeem_points', cid, base);
    await sleep(WINDOW_S * 600);
    await ref.call(
      m,
      'call 2 (applied, answer lost), inside the window of call 1',
      'redeem_points',
      cid,
      base,
    );
    await sleep(WINDOW_S * 600);
    await ref.call(m, 'call 3 (lost), past the window of call 1', 'redeem_points', cid, base);
    await sleep(PAST);
    const last = await ref.call(m, 'call 4, past both', 'redeem_points', cid, base);
    ref.finish(cid, 'spread re-sends');
    if (last.kind !== 'ok') ref.violations.push('the late identical repeat did not resolve the attempt');
    expect(ref.violations.length, report(ref.violations)).toBe(0);
    expect(commitsByOp(fake, cid).get(opSig('redeem_points', cid, base))?.length).toBe(1);
  }, 30_000);
});
