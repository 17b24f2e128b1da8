import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { invalidArgs, junkArgs, TOOL_NAMES, type ToolName, VALID } from './arbitraries.js';
import {
  call,
  expectAccepted,
  expectValidationError,
  figures,
  type Harness,
  stdioHarness,
  sweep,
} from './fuzz-kit.js';
import { FUZZ_RUNS, FUZZ_TIMEOUT_MS, writeFigures } from './support.js';

/**
 * The same properties as fuzz.test.ts, through the real path: the built server (dist/cli.js)
 * spawned over stdio, the SDK's real Client, JSON on a pipe. One long-lived server takes a mixed
 * stream of valid, invalid and junk calls across all nine tools, and must never crash, hang or
 * send anything for an input it refuses.
 */

type Input = {
  tool: ToolName;
  kind: 'valid' | 'invalid' | 'junk';
  args: Record<string, unknown>;
  field?: string;
  parentExisted?: boolean;
};
const input: fc.Arbitrary<Input> = fc.constantFrom(...TOOL_NAMES).chain((tool) =>
  fc.oneof(
    VALID[tool].map((args) => ({ tool, kind: 'valid' as const, args })),
    invalidArgs(tool).map((i) => ({
      tool,
      kind: 'invalid' as const,
      args: i.args,
      field: i.field,
      parentExisted: i.parentExisted,
    })),
    junkArgs(tool).map((args) => ({ tool, kind: 'junk' as const, args })),
  ),
);

describe('fuzz over stdio (the built server)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await stdioHarness();
  });
  afterAll(async () => {
    if (!h) return;
    const pid = (h.client.transport as any)?.pid as number | undefined;
    await h.close();
    sweep.add('stdio server stderr', h.stderr());
    sweep.addDir('stdio data dir', h.dataDir);
    const leaks = sweep.check();
    writeFigures({
      suite: 'fuzz-stdio',
      ...figures,
      doubleSpends: 0,
      leaks: leaks.length,
      scanned: sweep.scannedItems,
      pid,
    });
    expect(leaks).toEqual([]);
  });

  it(
    `a mixed stream over all tools (${FUZZ_RUNS} runs): refused with nothing sent, or sent exactly as documented`,
    async () => {
      await fc.assert(
        fc.asyncProperty(input, async (x) => {
          if (x.kind === 'valid') figures.validInputs++;
          else if (x.kind === 'invalid') figures.invalidInputs++;
          else figures.junkInputs++;
          const { r, sc, sent, args } = await call(h, x.tool, x.args);
          if (x.kind === 'invalid') {
            expect(r.isError).toBe(true);
            return expectValidationError(sc, sent, {
              args: x.args,
              field: x.field!,
              parentExisted: x.parentExisted!,
              kind: 'invalid',
            });
          }
          if (r.isError && sc.error?.source === 'validation') {
            expect(x.kind, JSON.stringify(sc.error)).toBe('junk');
            return expectValidationError(sc, sent);
          }
          if (x.kind === 'junk') figures.junkAccepted++;
          expectAccepted(h, x.tool, args, sc, sent, !!r.isError);
        }),
        {
          numRuns: FUZZ_RUNS,
          endOnFailure: true,
          ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {}),
        },
      );
      // Still the same process, still answering.
      const ok = await call(h, 'get_points_balance', {
        identifier_name: 'mobile',
        identifier_value: '919000000001',
      });
      expect(ok.r.isError).toBeFalsy();
      expect(h.stderr()).not.toMatch(/internal error|fatal|Unhandled|TypeError|RangeError/);
    },
    FUZZ_TIMEOUT_MS,
  );
});
