import { Ajv, type ValidateFunction } from 'ajv';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNLOCK_EXAMPLE } from '../fixtures/doc-examples.js';
import { invalidArgs, TOOL_NAMES, VALID } from './arbitraries.js';
import { call, type Harness, inProcessHarness, sweep } from './fuzz-kit.js';
import { FUZZ_RUNS, FUZZ_TIMEOUT_MS } from './support.js';

/**
 * The listed schemas as an independent JSON Schema validator reads them (Ajv, strict off, as
 * clients run it): every valid argument set the fuzz suite generates passes the tool's listed
 * inputSchema, and every structuredContent that comes back (results, and the errors of arguments
 * with one field made invalid) passes its listed outputSchema. A client that validates before sending or after receiving never refuses
 * what the server takes or returns.
 */

const ajv = new Ajv({ strict: false, allErrors: true });
const explain = (v: ValidateFunction) =>
  (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');

describe.each(TOOL_NAMES.map((t) => [t]))('listed schemas of %s, read by Ajv', (tool) => {
  let h: Harness;
  let input: ValidateFunction;
  let output: ValidateFunction;
  beforeAll(async () => {
    h = await inProcessHarness();
    const listed = (await h.client.listTools()).tools.find((t) => t.name === tool)!;
    input = ajv.compile(listed.inputSchema);
    output = ajv.compile(listed.outputSchema!);
  });
  afterAll(async () => {
    await h?.close();
    if (h) sweep.addDir(`${tool} data dir`, h.dataDir);
  });

  it(
    `valid arguments pass the inputSchema, and each result passes the outputSchema (${FUZZ_RUNS} runs)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(VALID[tool], async (valid) => {
          const args = JSON.parse(JSON.stringify(valid));
          expect(input(args), `${JSON.stringify(args).slice(0, 300)}: ${explain(input)}`).toBe(true);
          const { sc } = await call(h, tool, args);
          expect(output(sc), `${JSON.stringify(sc).slice(0, 300)}: ${explain(output)}`).toBe(true);
        }),
        {
          numRuns: FUZZ_RUNS,
          endOnFailure: true,
          ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {}),
        },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    `errors pass the outputSchema too: arguments with one field made invalid (${FUZZ_RUNS} runs)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(invalidArgs(tool), async (inv) => {
          const { r, sc } = await call(h, tool, inv.args);
          expect(r.isError).toBe(true);
          expect(output(sc), `${JSON.stringify(sc).slice(0, 300)}: ${explain(output)}`).toBe(true);
        }),
        {
          numRuns: FUZZ_RUNS,
          endOnFailure: true,
          ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {}),
        },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});

describe('what a default validator used to refuse', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await inProcessHarness();
  });
  afterAll(async () => h?.close());

  it("points such as 2.675 and the pages' numeric ids pass the listed schemas", async () => {
    const { tools } = await h.client.listTools();
    const schema = (name: string) => ajv.compile(tools.find((t) => t.name === name)!.inputSchema);
    const redeem = schema('redeem_points');
    for (const points of [2.675, 8.675, 1.005, 0.001, 999_999_999.999])
      expect(redeem({ customer: { mobile: 919000000001 }, points }), `${points}: ${explain(redeem)}`).toBe(
        true,
      );
    const unlock = schema('unlock_promised_points');
    const ok = unlock(UNLOCK_EXAMPLE);
    expect(ok, explain(unlock)).toBe(true);
    const update = schema('update_redemption');
    expect(update({ redemption_id: '8878ru', bill_id: 12345, purpose: 'Testing' }), explain(update)).toBe(
      true,
    );
    // A fraction or a negative number where an id goes is refused by the listed schema too.
    expect(update({ redemption_id: '8878ru', bill_id: -5, purpose: 'x' })).toBe(false);
  });
});
