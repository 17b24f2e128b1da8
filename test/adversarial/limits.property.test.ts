/**
 * Properties of the limits over any interleaving of money calls naming one customer under any
 * of its identifiers, in batches of concurrent calls, hours apart, with a human who says yes or
 * no (or a client that cannot ask):
 * - points moved in any 24 h window <= the daily cap;
 * - points moved in any confirmation window without a human's yes <= the threshold (every yes
 *   covers the points of the one operation it was asked about);
 * - after a "no", nothing moves for that customer during the cooldown without a new yes.
 * Measured on the upstream's own books (CountingCapillary). The server runs in this process
 * (the real pipeline and ledger rules), so that the clock can be moved on: on the memory store,
 * and in fewer runs on the file store and on PostgreSQL (where installed).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp, openLedger, voiceFor } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { callTool } from '../../src/pipeline/call.js';
import { ALL_TOOLS } from '../../src/toolkit/all-tools.js';
import { liveEnv } from '../fixtures/canary.js';
import { createDatabase, pgMissing, sharedCluster } from '../fixtures/postgres.js';
import { ASHA, ASHA_SPELLINGS, CountingCapillary } from './limits-upstream.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const COOLDOWN = HOUR;

let up: CountingCapillary;
beforeAll(async () => {
  up = await new CountingCapillary().start();
});
afterAll(async () => {
  vi.useRealTimers();
  await up?.close();
});

const oneCall = fc.record({
  who: fc.nat({ max: ASHA_SPELLINGS.length - 1 }),
  points: fc.integer({ min: 1, max: 400 }),
  tool: fc.constantFrom('redeem_points', 'request_points_redemption'),
});
const scenario = fc.record({
  cap: fc.integer({ min: 100, max: 1500 }),
  threshold: fc.integer({ min: 50, max: 800 }),
  canAsk: fc.boolean(),
  answers: fc.array(fc.constantFrom('accept', 'decline') as fc.Arbitrary<'accept' | 'decline'>, {
    minLength: 1,
    maxLength: 8,
  }),
  batches: fc.array(
    fc.record({
      // Hours between batches: inside and across the 1 h cooldown and the 24 h windows.
      advance: fc.constantFrom(0.02, 0.5, 1.5, 6, 12, 23, 25),
      calls: fc.array(oneCall, { minLength: 1, maxLength: 6 }),
    }),
    { minLength: 1, maxLength: 6 },
  ),
});

const sumIn = (xs: Array<{ at: number; points: number }>, from: number, to: number) =>
  xs.filter((x) => x.at >= from && x.at <= to).reduce((a, x) => a + x.points, 0);

const STORES = [
  { ledger: 'memory', runs: Number(process.env.LIMITS_RUNS ?? 60) },
  { ledger: 'file', runs: Number(process.env.LIMITS_RUNS ?? 30) },
  ...(pgMissing ? [] : [{ ledger: 'postgres', runs: Number(process.env.LIMITS_RUNS ?? 20) }]),
];

/** The app on a fresh ledger of this kind (a new database for PostgreSQL). */
async function appOn(ledger: string, env: Record<string, string>) {
  const extra =
    ledger === 'postgres' ? { CAPILLARY_LEDGER_URL: await createDatabase(await sharedCluster(), 'lim') } : {};
  const config = loadConfig({ ...env, CAPILLARY_LEDGER: ledger, ...extra });
  const voice = voiceFor(config);
  return createApp(config, ALL_TOOLS, { ...voice, store: await openLedger(config, voice) });
}

describe.each(STORES)(
  'limits over any interleaving of calls for one customer, $ledger ledger',
  ({ ledger, runs }) => {
    it('moved in any 24 h <= the daily cap; moved without a yes <= the threshold; nothing during a cooldown without a yes', async () => {
      let run = 0;
      // What the runs went through, so that a property that held only because nothing moved fails.
      const seen = new Map<string, number>();
      await fc.assert(
        fc.asyncProperty(scenario, async (s) => {
          run++;
          up.reset();
          vi.useFakeTimers({ toFake: ['Date'] });
          let now = Date.UTC(2026, 0, 5, 9);
          vi.setSystemTime(now);
          const app = await appOn(
            ledger,
            liveEnv(up.url, {
              CAPILLARY_MAX_POINTS_PER_CUSTOMER_PER_DAY: String(s.cap),
              CAPILLARY_APPROVAL: 'elicit',
              CAPILLARY_CONFIRM_ABOVE_POINTS: String(s.threshold),
              CAPILLARY_CONFIRM_COOLDOWN_SECONDS: String(COOLDOWN / 1000),
              CAPILLARY_LOG_LEVEL: 'error',
            }),
          );
          const yeses: Array<{ at: number; points: number }> = [];
          const noes: number[] = [];
          let asked = 0;
          const elicit = s.canAsk
            ? async (message: string) => {
                const answer = s.answers[asked++ % s.answers.length];
                const points = Number(/^- points: (\S+)$/m.exec(message)?.[1]);
                if (answer === 'accept') yeses.push({ at: Date.now(), points });
                else noes.push(Date.now());
                return answer;
              }
            : undefined;
          try {
            let i = 0;
            for (const b of s.batches) {
              now += b.advance * HOUR;
              vi.setSystemTime(now);
              const results = await Promise.all(
                b.calls.map((c) =>
                  callTool(
                    app,
                    c.tool,
                    {
                      ...(c.tool === 'request_points_redemption' ? { entity: { till_id: '1' } } : {}),
                      customer: ASHA_SPELLINGS[c.who],
                      points: c.points,
                      external_reference_number: `p${run}-${i++}`,
                    },
                    { elicit },
                  ),
                ),
              );
              for (const r of results) {
                const code = String((r.structuredContent as any)?.error?.code ?? 'ok');
                seen.set(code, (seen.get(code) ?? 0) + 1);
              }
            }
          } finally {
            await app.close();
            vi.useRealTimers();
          }
          const moved = up.committed.filter((c) => c.customer === String(ASHA.id));
          // Nothing moved under another name: every spelling reached customer 101.
          expect(up.committed.length).toBe(moved.length);
          for (const c of moved) {
            expect(sumIn(moved, c.at - DAY, c.at)).toBeLessThanOrEqual(s.cap);
            expect(sumIn(moved, c.at - DAY, c.at)).toBeLessThanOrEqual(
              s.threshold + sumIn(yeses, c.at - 2 * DAY, c.at),
            );
          }
          // A "no" at t: whatever moved after it, within the cooldown, was asked about and approved.
          for (const t of noes) {
            const after = moved.filter((c) => c.at > t && c.at <= t + COOLDOWN);
            expect(after.length).toBeLessThanOrEqual(
              yeses.filter((y) => y.at > t && y.at <= t + COOLDOWN).length,
            );
          }
        }),
        { numRuns: runs },
      );
      // Every limit was met at least once (in the fewer runs of the durable stores: some refusal).
      const met =
        ledger === 'memory'
          ? ['cap_per_customer_per_day', 'confirmation_declined', 'confirmation_unavailable']
          : [];
      for (const code of ['ok', ...met])
        expect(seen.get(code), `${code} in ${JSON.stringify([...seen])}`).toBeGreaterThan(0);
      expect(
        [...seen.keys()].some((c) => c !== 'ok'),
        JSON.stringify([...seen]),
      ).toBe(true);
      expect(
        [...seen.keys()].every((c) => c === 'ok' || /^(cap_|confirmation_)/.test(c)),
        JSON.stringify([...seen]),
      ).toBe(true);
    }, 240_000);
  },
);
