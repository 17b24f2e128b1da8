import { McpError } from '@modelcontextprotocol/sdk/types.js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { within } from '../fixtures/lifecycle.js';
import { invalidArgs, junkArgs, SPEND_TOOLS, TOOL_NAMES, VALID } from './arbitraries.js';
import {
  call,
  expectAccepted,
  expectValidationError,
  figures,
  type Harness,
  inProcessHarness,
  sweep,
} from './fuzz-kit.js';
import { FUZZ_RUNS, FUZZ_TIMEOUT_MS, writeFigures } from './support.js';

/**
 * Property-based tests of every tool through the real MCP Client and the server's real request
 * path (createServer(createApp(...)) over an in-memory transport, HTTP to a recording fake on
 * loopback). Three properties per tool, FUZZ_RUNS runs each (default 1000; nightly FUZZ_RUNS=20000):
 *   invalid: one field made invalid -> isError, source validation, the field named, nothing sent;
 *   junk:    arbitrary JSON -> never throws or hangs; either a validation error with nothing sent,
 *            or (if it happens to be valid) exactly the documented request;
 *   valid:   generated valid arguments -> exactly the documented wire request (or, for a dry run,
 *            the same request previewed and nothing sent; for a repeat, a replay and nothing sent).
 */

const stderr: string[] = [];

// The in-process server logs to this process's stderr: capture it for the canary sweep.
const realWrite = process.stderr.write.bind(process.stderr);
beforeAll(() => {
  vi.spyOn(process.stderr, 'write').mockImplementation(((chunk: unknown) => {
    stderr.push(String(chunk));
    return true;
  }) as typeof process.stderr.write);
});
afterAll(() => {
  vi.restoreAllMocks();
  sweep.add('server stderr', stderr.join(''));
  const leaks = sweep.check();
  writeFigures({
    suite: 'fuzz',
    ...figures,
    doubleSpends: 0,
    leaks: leaks.length,
    scanned: sweep.scannedItems,
  });
  realWrite(leaks.length ? `[reliability] leaks: ${leaks.join('\n')}\n` : '');
  expect(leaks).toEqual([]);
});

const opts = (_property: number) => ({
  numRuns: FUZZ_RUNS,
  // A fresh random seed each run; fast-check prints it on failure, and FUZZ_SEED=<it> replays it.
  ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {}),
  endOnFailure: true,
});

describe.each(TOOL_NAMES.map((t, i) => [t, i] as const))('fuzz %s', (tool, i) => {
  let h: Harness;
  beforeAll(async () => {
    h = await inProcessHarness();
  });
  afterAll(async () => {
    await h?.close();
    if (h) sweep.addDir(`${tool} data dir`, h.dataDir);
  });

  it(
    `invalid arguments: a validation error naming the field, nothing sent (${FUZZ_RUNS} runs)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(invalidArgs(tool), async (inv) => {
          figures.invalidInputs++;
          const { r, sc, sent } = await call(h, tool, inv.args);
          expect(
            r.isError,
            `${inv.kind}: ${JSON.stringify(inv.args).slice(0, 300)} -> ${JSON.stringify(sc).slice(0, 300)}`,
          ).toBe(true);
          expectValidationError(sc, sent, inv);
        }),
        opts(i * 3),
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    `arbitrary JSON: never a crash or hang; refused with nothing sent, or sent exactly as documented (${FUZZ_RUNS} runs)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(junkArgs(tool), async (junk) => {
          figures.junkInputs++;
          const { r, sc, sent, args } = await call(h, tool, junk);
          if (r.isError && sc.error?.source === 'validation') return expectValidationError(sc, sent);
          figures.junkAccepted++;
          expectAccepted(h, tool, args, sc, sent, !!r.isError);
        }),
        opts(i * 3 + 1),
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    `valid arguments: the documented wire request, points as a decimal string, ids digit-exact (${FUZZ_RUNS} runs)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(VALID[tool], async (valid) => {
          figures.validInputs++;
          const { r, sc, sent, args } = await call(h, tool, valid);
          expectAccepted(h, tool, args, sc, sent, !!r.isError);
          // A money call repeated: replayed from the ledger, nothing sent, same result.
          if (SPEND_TOOLS.has(tool) && !args.dry_run && !r.isError) {
            const again = await call(h, tool, valid);
            expectAccepted(h, tool, again.args, again.sc, again.sent, !!again.r.isError);
            const { replayed: _r, note: _n, ...first } = sc;
            expect(again.sc).toMatchObject(first);
          }
        }),
        opts(i * 3 + 2),
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});

describe('protocol-level junk', () => {
  it('non-object arguments and unknown tool names are refused; the server keeps answering', async () => {
    const h = await inProcessHarness();
    try {
      for (const bad of ['x', 5, [1, 2], true, '{"points":5}']) {
        figures.inputs++;
        const before = h.fake.requests.length;
        const out = await within(
          h.client.callTool({ name: 'redeem_points', arguments: bad as any }).then(
            (r: any) => ({ r }),
            (e: unknown) => ({ e }),
          ),
          10_000,
          'non-object arguments',
        );
        if ('e' in out) expect(out.e).toBeInstanceOf(McpError);
        else expectValidationError((out.r as any).structuredContent, []);
        expect(h.fake.requests.length).toBe(before);
      }
      // An unknown tool is a protocol error (invalid params), with a short message.
      for (const name of ['redeem_pointz', '', 'x'.repeat(10_000), '__proto__', 'constructor', 'toString']) {
        const before = h.fake.requests.length;
        const e = await h.client
          .callTool({ name, arguments: { customer: { mobile: '919000000001' }, points: 5 } })
          .then(
            () => undefined,
            (err: unknown) => err,
          );
        expect(e).toBeInstanceOf(McpError);
        expect((e as McpError).code).toBe(-32602);
        expect((e as McpError).message.length).toBeLessThanOrEqual(800);
        expect(h.fake.requests.length).toBe(before);
      }
      const ok = await call(h, 'get_points_balance', {
        identifier_name: 'mobile',
        identifier_value: '919000000001',
      });
      expect(ok.r.isError).toBeFalsy();
    } finally {
      await h.close();
      sweep.addDir('protocol data dir', h.dataDir);
    }
  });
});

describe('named edge cases (always run, besides the random ones)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await inProcessHarness();
  });
  afterAll(async () => {
    await h?.close();
    if (h) sweep.addDir('edge data dir', h.dataDir);
  });
  const cust = { mobile: '919000000001' };
  const base: Record<string, Record<string, unknown>> = {
    check_points_redeemable: { customer: cust, points: 5 },
    issue_redemption_code: { customer: cust, points: 5 },
    redeem_points: { customer: cust, points: 5, dry_run: true },
    request_points_redemption: { entity: { till_id: 't1' }, customer: cust, points: 5, dry_run: true },
    reverse_redemption: { redemption_id: 'r1', customer: cust, points: 5, dry_run: true },
  };
  const badPoints: unknown[] = [
    0.0005,
    1e-7,
    1.1115,
    '1,5',
    'NaN',
    'Infinity',
    '-Infinity',
    '10',
    1e-19,
    5e-324,
    999_999_999.9990001,
    0.1 + 0.2,
    1_000_000_000.001,
    1e21,
    0,
    -1,
    null,
    true,
    [],
    {},
  ];
  const toolsWithPoints = Object.keys(base);
  it.each(toolsWithPoints.flatMap((t) => badPoints.map((p) => [t, p] as const)))(
    '%s refuses points %j, naming points',
    async (tool, p) => {
      figures.edgeCases++;
      const { r, sc, sent } = await call(h, tool, { ...base[tool], points: p });
      expect(r.isError).toBe(true);
      expectValidationError(sc, sent, { args: {}, field: 'points', parentExisted: true, kind: 'edge' });
    },
  );

  const goodPoints: Array<[number, string]> = [
    [0.001, '0.001'],
    [4.35, '4.35'],
    [1.1, '1.1'],
    [2.675, '2.675'],
    [0.3, '0.3'],
    [999_999_999.999, '999999999.999'],
    [1_000_000_000, '1000000000'],
    [123.45, '123.45'],
    [1e-3, '0.001'],
    [100, '100'],
  ];
  it.each(goodPoints)('points %d goes out as the decimal string "%s"', async (p, text) => {
    figures.edgeCases++;
    const { r, sent } = await call(h, 'check_points_redeemable', {
      customer: { id: '1234567890123456789' },
      points: p,
    });
    expect(r.isError).toBeFalsy();
    expect(sent[0].query).toMatchObject({ points: text, id: '1234567890123456789' });
  });

  const ids: Array<[string, Record<string, unknown>, string | RegExp]> = [
    [
      'bill_id int64 max',
      { redemption_id: 'r1', bill_id: '9223372036854775807' },
      '"billId":9223372036854775807',
    ],
    ['bill_id 2^53+1', { redemption_id: 'r1', bill_id: '9007199254740993' }, '"billId":9007199254740993'],
    [
      'bill_id 1234567890123456789',
      { redemption_id: 'r1', bill_id: '1234567890123456789' },
      '"billId":1234567890123456789',
    ],
  ];
  it.each(ids)('update_redemption %s keeps every digit on the wire', async (_l, args, needle) => {
    figures.edgeCases++;
    const { r, sc, sent } = await call(h, 'update_redemption', args);
    expect(r.isError, JSON.stringify(sc)).toBeFalsy();
    expect(sent[0].body).toContain(needle as string);
    expect(sc.bill_id).toBe((args as any).bill_id);
  });

  const unlockBase = {
    identifier_name: 'mobile',
    identifier_value: '919000000003',
    source: 'INSTORE',
    event_name: 'TransactionAdd',
    bill_number: 'B-1',
  };
  it.each([
    ['event_log_id', '007', '"eventLogId":[7]'],
    ['event_log_id', '9223372036854775807', '"eventLogId":[9223372036854775807]'],
    ['source_store_id', '0000', '"sourceStoreId":0'],
    ['line_item_ids', ['0011', '9223372036854775807'], '"lineItemIds":[11,9223372036854775807]'],
  ] as const)('unlock_promised_points %s %j is a valid JSON number token', async (f, v, needle) => {
    figures.edgeCases++;
    const { r, sc, sent } = await call(h, 'unlock_promised_points', { ...unlockBase, [f]: v });
    expect(r.isError, JSON.stringify(sc)).toBeFalsy();
    expect(() => JSON.parse(sent[0].body)).not.toThrow();
    expect(sent[0].body).toContain(needle);
  });

  it.each([
    ['update_redemption', { redemption_id: 'r1', bill_id: '9223372036854775808' }, 'bill_id'],
    ['update_redemption', { redemption_id: 'r1', bill_id: '99999999999999999999' }, 'bill_id'],
    ['update_redemption', { redemption_id: 'r1', bill_id: '0' }, 'bill_id'],
    ['unlock_promised_points', { ...unlockBase, event_log_id: '9223372036854775808' }, 'event_log_id'],
    [
      'unlock_promised_points',
      { ...unlockBase, line_item_ids: ['1', '18446744073709551615'] },
      'line_item_ids.1',
    ],
    ['redeem_points', { customer: cust, points: 5, group: { external_id: 'x\uDC00' } }, 'group.external_id'],
    ['get_points_balance', { identifier_name: 'mobile', identifier_value: 'a\uD800b' }, 'identifier_value'],
    ['redeem_points', { customer: cust, points: 5, ['k'.repeat(5000)]: 1 }, 'kkkk'],
    [
      'redeem_points',
      { customer: cust, points: 5, custom_fields: { ['n'.repeat(5000)]: 'v' } },
      'custom_fields.nnnn',
    ],
  ] as const)('%s refuses %j, naming %s', async (tool, args, field) => {
    figures.edgeCases++;
    const { r, sc, sent } = await call(h, tool, args);
    expect(r.isError, JSON.stringify(sc)).toBe(true);
    expectValidationError(sc, sent, { args: {}, field, parentExisted: true, kind: 'edge' });
  });
});
