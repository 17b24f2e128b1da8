import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveEnv } from '../fixtures/canary.js';
import { type Connected, call, connectStdio } from '../fixtures/clients.js';
import { FakeCapillary } from '../fixtures/fake-capillary.js';

/** Arguments the server refuses itself, with Capillary's own error codes, before any request. */

describe('local checks: a clear error naming the field and code, and nothing sent', () => {
  let fake: FakeCapillary;
  let mcp: Connected;
  beforeAll(async () => {
    // Records whatever would leave the process; every case here must send nothing.
    fake = await new FakeCapillary().start();
    mcp = await connectStdio(liveEnv(fake.url));
  });
  afterAll(async () => {
    await mcp?.close();
    await fake?.close();
  });

  const cases: Array<[string, string, Record<string, unknown>, string | number, RegExp]> = [
    ['points 0', 'redeem_points', { customer: { mobile: '919000000001' }, points: 0 }, 801, /points/],
    ['negative points', 'redeem_points', { customer: { mobile: '919000000001' }, points: -5 }, 801, /points/],
    [
      'points as a string',
      'redeem_points',
      { customer: { mobile: '919000000001' }, points: '10' },
      801,
      /points/,
    ],
    [
      'four decimals',
      'redeem_points',
      { customer: { mobile: '919000000001' }, points: 1.1115 },
      878,
      /points/,
    ],
    ['1e-7 points', 'redeem_points', { customer: { mobile: '919000000001' }, points: 1e-7 }, 878, /points/],
    ['no customer identifier', 'redeem_points', { customer: {}, points: 5 }, 'invalid_argument', /customer/],
    ['missing customer', 'redeem_points', { points: 5 }, 'invalid_argument', /customer: required/],
    [
      'bad validation_type',
      'redeem_points',
      { customer: { mobile: '919000000001' }, points: 5, validation_type: 'EMAIL' },
      'invalid_argument',
      /validation_type/,
    ],
    [
      'impossible redemption_time',
      'redeem_points',
      { customer: { mobile: '919000000001' }, points: 5, redemption_time: '2023-02-30 10:00:00' },
      'invalid_argument',
      /redemption_time/,
    ],
    [
      'typo in dry_run',
      'redeem_points',
      { customer: { mobile: '919000000001' }, points: 5, dryrun: true },
      'invalid_argument',
      /did you mean "dry_run"/,
    ],
    [
      'workflow without entity id',
      'request_points_redemption',
      { entity: {}, customer: { mobile: '919000000001' }, points: 5 },
      'invalid_argument',
      /entity/,
    ],
    [
      'both redemption ids',
      'update_redemption',
      { redemption_id: 'a', external_reference_number: 'b', purpose: 'x' },
      749,
      /exactly one/,
    ],
    ['no redemption id', 'update_redemption', { purpose: 'x' }, 749, /exactly one/],
    ['nothing to update', 'update_redemption', { redemption_id: 'a' }, 748, /nothing to update/],
    [
      'purpose over 255',
      'update_redemption',
      { redemption_id: 'a', purpose: 'x'.repeat(256) },
      'invalid_argument',
      /purpose/,
    ],
    [
      'bill_id of 20 digits',
      'update_redemption',
      { redemption_id: 'a', bill_id: '12345678901234567890' },
      'invalid_argument',
      /bill_id/,
    ],
    [
      'bill_id as a fraction',
      'update_redemption',
      { redemption_id: 'a', bill_id: 12.5 },
      'invalid_argument',
      /bill_id/,
    ],
    [
      'bad entity type',
      'update_redemption',
      {
        redemption_id: 'a',
        purpose: 'x',
        entity: { type: 'STORE', identifier_type: 'mobile', identifier_value: '1' },
      },
      1212,
      /entity.type/,
    ],
    [
      'entity without value',
      'update_redemption',
      { redemption_id: 'a', purpose: 'x', entity: { type: 'CUSTOMER', identifier_type: 'mobile' } },
      1219,
      /entity.identifier_value/,
    ],
    [
      'unlock without identifier value',
      'unlock_promised_points',
      { identifier_name: 'mobile', source: 'INSTORE', event_name: 'TransactionAdd', bill_number: 'B' },
      82323284,
      /identifier_value/,
    ],
    [
      'unlock without source',
      'unlock_promised_points',
      { identifier_name: 'mobile', identifier_value: '9', event_name: 'TransactionAdd', bill_number: 'B' },
      82323284,
      /source/,
    ],
    [
      'unlock without bill number',
      'unlock_promised_points',
      { identifier_name: 'mobile', identifier_value: '9', source: 'INSTORE', event_name: 'TransactionAdd' },
      82323271,
      /bill_number/,
    ],
    [
      'unlock with unknown event',
      'unlock_promised_points',
      {
        identifier_name: 'mobile',
        identifier_value: '9',
        source: 'INSTORE',
        event_name: 'Nope',
        bill_number: 'B',
      },
      82323272,
      /event_name/,
    ],
    [
      'unlock with impossible bill_date',
      'unlock_promised_points',
      {
        identifier_name: 'mobile',
        identifier_value: '9',
        source: 'INSTORE',
        event_name: 'TransactionAdd',
        bill_number: 'B',
        bill_date: '2023-02-29',
      },
      'invalid_argument',
      /bill_date/,
    ],
    [
      'unlock with bad source enum',
      'unlock_promised_points',
      {
        identifier_name: 'mobile',
        identifier_value: '9',
        source: 'SHOP',
        event_name: 'TransactionAdd',
        bill_number: 'B',
      },
      'invalid_argument',
      /source/,
    ],
  ];
  it.each(cases)('%s', async (_label, tool, args, code, message) => {
    const before = fake.requests.length;
    const r = await call(mcp.client, tool, args);
    expect(r.isError).toBe(true);
    expect(r.structuredContent.error).toMatchObject({
      // Every code is a string on the wire, Capillary's included.
      code: String(code),
      source: 'validation',
      outcome: 'not_sent',
      retryable: false,
    });
    expect(r.structuredContent.error.message).toMatch(message);
    expect(fake.requests.length).toBe(before);
  });
});
