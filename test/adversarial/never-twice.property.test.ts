import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { FakeCapillary, FaultKind } from './fake-capillary.js';
import {
  baseArgs,
  closeAll,
  fakeAndServer,
  faultsUnderTest,
  type Mcp,
  type MoneyTool,
  Referee,
  ROUTE,
  report,
  type Subject,
  subject,
  VARIATIONS,
} from './harness.js';

/**
 * Property: for any sequence of money calls against one customer (several operations of the
 * three money tools, each repeated with cosmetic variations), with any faults scripted on the
 * upstream before any call, every operation is applied upstream at most once, no result is a
 * protocol error, what was applied is never reported as failed, and no success is another
 * operation's. One server process serves every run; each run has a fresh customer.
 *
 * ADV_RUNS (default 50) sets the number of runs; ADV_SEED replays a seed fast-check printed.
 */

const RUNS = Number(process.env.ADV_RUNS) || 50;
const SEED = process.env.ADV_SEED ? Number(process.env.ADV_SEED) : undefined;
/** ADV_STRICT=1 also checks the outcome rules and the unresolved-attempt behaviour in every run. */
const STRICT = process.env.ADV_STRICT === '1';

/** The operations a run draws from: tool and the arguments that make its meaning. */
const OPS: Array<{ tool: MoneyTool; make: (s: Subject) => Record<string, any> }> = [
  { tool: 'redeem_points', make: (s) => baseArgs('redeem_points', s, 100) },
  { tool: 'redeem_points', make: (s) => baseArgs('redeem_points', s, 60) },
  { tool: 'redeem_points', make: (s) => ({ ...baseArgs('redeem_points', s, 100), program_id: '2' }) },
  { tool: 'request_points_redemption', make: (s) => baseArgs('request_points_redemption', s, 100) },
  { tool: 'reverse_redemption', make: (s) => baseArgs('reverse_redemption', s, 100) },
  { tool: 'reverse_redemption', make: (s) => baseArgs('reverse_redemption', s, 250) },
];

/** Faults that cost a client timeout or a Retry-After wait are drawn rarely. */
const SLOW: FaultKind[] = ['hang', '503-html-retry-after', '503-json-retry-after'];
const FAST = faultsUnderTest().filter((f) => !SLOW.includes(f));
const RARE = faultsUnderTest().filter((f) => SLOW.includes(f));
const fault = fc.oneof(
  ...(FAST.length ? [{ weight: 15, arbitrary: fc.constantFrom(...FAST) }] : []),
  ...(RARE.length ? [{ weight: 1, arbitrary: fc.constantFrom(...RARE) }] : []),
);

const command = fc.record({
  op: fc.nat(OPS.length - 1),
  /** Index into the tool's cosmetic variations (0 = identical). */
  variation: fc.nat(20),
  /** Faults for the next attempts at this tool's route; they wait for an attempt if none comes. */
  faults: fc.array(fault, { maxLength: 2 }),
});

let fake: FakeCapillary;
let m: Mcp;
beforeAll(async () => {
  ({ fake, m } = await fakeAndServer());
});
afterAll(() => closeAll(m, fake));

describe('never twice, as a property', () => {
  it(`random sequences of calls, cosmetic variations, faults and repeats (${RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 8 }), async (cmds) => {
        const ref = new Referee(fake, { strict: STRICT });
        const s = subject(fake, 'reverse_redemption');
        const cid = s.customer.id;
        for (const [i, c] of cmds.entries()) {
          const op = OPS[c.op];
          const cosmetic = VARIATIONS[op.tool].filter((v) => v.same);
          const variation = cosmetic[c.variation % cosmetic.length];
          if (c.faults.length) fake.script(cid, ROUTE[op.tool], c.faults);
          await ref.call(
            m,
            `#${i} ${op.tool} op${c.op} ${variation.name}`,
            op.tool,
            cid,
            variation.apply(op.make(s), s),
          );
        }
        ref.finish(cid, 'run');
        if (ref.violations.length) throw new Error(report(ref.violations));
      }),
      {
        numRuns: RUNS,
        ...(SEED !== undefined ? { seed: SEED } : {}),
        // Shrinking a failure re-runs sequences through a real server: bounded in time.
        interruptAfterTimeLimit: 150_000,
        markInterruptAsFailure: false,
      },
    );
  }, 200_000);
});
