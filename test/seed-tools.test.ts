import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeUpstream, redeemOk, redeemRefused } from './helpers/fake-upstream.js';
import { type Connected, call, connectStdio, liveEnv } from './helpers/mcp.js';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const BASIC = `Basic ${Buffer.from(`till.user:${md5('canary-pass-5f3e')}`).toString('base64')}`;

describe('the four seed tools over stdio against a recording fake upstream', () => {
  let fake: FakeUpstream;
  let mcp: Connected;

  beforeAll(async () => {
    fake = await new FakeUpstream()
      .on('POST', '/v1.1/points/redeem', (req) => {
        const item = JSON.parse(req.body).root.redeem[0];
        if (item.customer.mobile === '919000000816')
          return { status: 200, json: redeemRefused(816, 'Customer not found for organization') };
        return { json: redeemOk(item.points_redeemed, 4989.5) };
      })
      .on('POST', '/api_gateway/v2/request-workflow/POINTS-REDEMPTION', (req) => {
        const body = JSON.parse(req.body);
        return {
          json: {
            data: {
              requestId: 'd9df3b65-62a7-11ee-aa6d-0aaee4e533d2',
              requestType: 'points-redemption',
              state: 'AdminTask',
              startTime: '2023-10-04T16:49:14',
              endTime: null,
              details: { 'IntouchAPITask-Payload': body.payload['IntouchAPITask-Payload'] },
            },
          },
        };
      })
      .on('PUT', '/v2/points/updateRedemption', (req) => ({
        text: `{"id":396023,"programId":1098,"pointsRedeemed":100.0,"billId":${/"billId":(\d+)/.exec(req.body)?.[1] ?? 1},"billNumber":"B-77","redemptionId":"8878ru","customerId":346926900,"redemptionPurpose":"Testing","warnings":[]}`,
      }))
      .on('POST', '/v2/points/unlockPromisedPoints', (req) =>
        JSON.parse(req.body).billNumber === 'B-none'
          ? {
              status: 400,
              json: {
                errors: [{ status: false, code: 82323282, message: 'No promise points found to unlock' }],
                warnings: [],
              },
            }
          : {
              json: {
                pointsUnlocked: [
                  { billNumber: 'B-1', pointsUnlocked: 6, programId: 56 },
                  { billNumber: 'B-1', itemCode: 'SKU-1', pointsUnlocked: 24.5, programId: 12 },
                ],
              },
            },
      )
      .start();
    // skip_validation is allowed here: these tests check that every argument reaches the wire.
    mcp = await connectStdio(liveEnv(fake.url, { CAPILLARY_ALLOW_SKIP_VALIDATION: 'true' }));
  });
  afterAll(async () => {
    await mcp?.close();
    await fake?.close();
  });

  const last = () => fake.requests[fake.requests.length - 1];

  it('lists the tools with output schemas and annotations', async () => {
    const { tools } = await mcp.client.listTools();
    const names = tools.map((t) => t.name);
    for (const n of [
      'redeem_points',
      'request_points_redemption',
      'update_redemption',
      'unlock_promised_points',
    ])
      expect(names).toContain(n);
    // Annotations are listed where they differ from the MCP defaults; readOnlyHint always, and
    // destructiveHint on every writing tool. This is what a client reads them as.
    const SPEC_DEFAULTS = {
      readOnlyHint: false,
      destructiveHint: true,
      idempotentHint: false,
      openWorldHint: true,
    };
    const hints = (name: string) => ({
      ...SPEC_DEFAULTS,
      ...tools.find((t) => t.name === name)?.annotations,
    });
    for (const t of tools) {
      expect(t.outputSchema?.type).toBe('object');
      expect(hints(t.name).openWorldHint).toBe(true);
      expect(typeof t.annotations?.readOnlyHint).toBe('boolean');
      if (!t.annotations?.readOnlyHint) expect(typeof t.annotations?.destructiveHint).toBe('boolean');
    }
    expect(hints('redeem_points')).toMatchObject({
      readOnlyHint: false,
      destructiveHint: true,
      idempotentHint: false,
    });
    expect(hints('update_redemption')).toMatchObject({
      readOnlyHint: false,
      destructiveHint: true,
      idempotentHint: true,
    });
    expect(hints('unlock_promised_points')).toMatchObject({
      readOnlyHint: false,
      destructiveHint: false,
      idempotentHint: true,
    });
    expect(hints('get_points_balance').readOnlyHint).toBe(true);
  });

  it('redeem_points sends the documented wire request and returns normalized fields', async () => {
    const r = await call(mcp.client, 'redeem_points', {
      customer: { mobile: '919000000001' },
      points: 10.5,
      notes: 'goodwill',
      program_id: '973',
      skip_validation: true,
      custom_fields: { point_transfered_to: '9777788221' },
      group: { id: 'G1', primary_user_identifier_type: 'mobile' },
    });
    expect(r.isError).toBeFalsy();
    const req = last();
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/v1.1/points/redeem');
    expect(req.query).toMatchObject({
      format: 'json',
      program_id: '973',
      skip_validation: 'true',
      user_group2_id: 'G1',
      user_group2_primary_user_identifier_type: 'mobile',
    });
    expect(req.headers.authorization).toBe(BASIC);
    expect(req.headers['content-type']).toBe('application/json');
    const body = JSON.parse(req.body);
    expect(Array.isArray(body.root.redeem)).toBe(true);
    const item = body.root.redeem[0];
    expect(item.points_redeemed).toBe('10.5');
    expect(item.customer).toEqual({ mobile: '919000000001' });
    expect(item.notes).toBe('goodwill');
    expect(item.custom_fields).toEqual({ field: [{ name: 'point_transfered_to', value: '9777788221' }] });
    expect(item.external_reference_number).toMatch(/^mcp-rdm-/);
    expect(r.structuredContent).toMatchObject({
      environment: 'live',
      redemption_id: 'RDM-1',
      points_redeemed: '10.5',
      balance: 4989.5,
      item_status: { success: true, code: 800 },
      idempotency_key: item.external_reference_number,
    });
    expect(JSON.parse((r.content[0] as any).text)).toEqual(r.structuredContent);
  });

  it('a 200 whose envelope says success "false" is a failure carrying the item code', async () => {
    const r = await call(mcp.client, 'redeem_points', { customer: { mobile: '919000000816' }, points: 5 });
    expect(r.isError).toBe(true);
    expect(r.structuredContent.error).toMatchObject({
      code: 816,
      source: 'upstream',
      outcome: 'failed',
      retryable: false,
    });
    expect(r.structuredContent.error.hint).toMatch(/identifier/);
  });

  it('request_points_redemption fills host, path, method, format and embedded headers itself', async () => {
    const r = await call(mcp.client, 'request_points_redemption', {
      entity: { till_id: '50682289', store_id: '50682288' },
      customer: { mobile: '9877792149' },
      points: 100,
      transaction_number: 'numbr89',
      redemption_time: '2020-04-15 23:01:46',
    });
    expect(r.isError).toBeFalsy();
    const req = last();
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/api_gateway/v2/request-workflow/POINTS-REDEMPTION');
    expect(req.headers['x-cap-api-auth-org-id']).toBe('777');
    expect(req.headers['x-cap-ui-auth-token']).toBe('canary-ui-jwt-91ab');
    const body = JSON.parse(req.body);
    expect(body.entityInfo).toEqual({ tillId: '50682289', storeId: '50682288' });
    const task = body.payload['IntouchAPITask-Payload'];
    expect(task).toMatchObject({
      hostname: fake.url,
      path: '/v1.1/points/redeem',
      method: 'POST',
      pathParams: {},
      queryParams: { format: 'json' },
    });
    expect(task.headers).toEqual({
      Authorization: BASIC,
      'content-type': 'application/json',
      'X-CAP-CLIENT-SIGNATURE': 'maker.bot',
    });
    expect(task.body.root.redeem[0]).toMatchObject({
      points_redeemed: '100',
      customer: { mobile: '9877792149' },
      redemption_time: '2020-04-15 23:01:46',
    });
    expect(task.body.root.redeem[0].external_reference_number).toMatch(/^mcp-req-/);
    expect(r.structuredContent).toMatchObject({
      request_id: 'd9df3b65-62a7-11ee-aa6d-0aaee4e533d2',
      state: 'AdminTask',
    });
    // The API echoes the embedded Authorization header back; it must not reach the agent.
    expect(JSON.stringify(r)).not.toContain(BASIC.slice(6));
  });

  it('update_redemption is a PUT and keeps all 19 digits of bill_id on the wire and back', async () => {
    const r = await call(mcp.client, 'update_redemption', {
      redemption_id: '8878ru',
      bill_id: '1234567890123456789',
      bill_number: 'B-77',
      purpose: 'Testing',
      entity: { type: 'CUSTOMER', identifier_type: 'mobile', identifier_value: '917939623972' },
    });
    expect(r.isError).toBeFalsy();
    const req = last();
    expect(req.method).toBe('PUT');
    expect(req.path).toBe('/v2/points/updateRedemption');
    expect(req.headers.authorization).toBe(BASIC);
    expect(req.body).toContain('"billId":1234567890123456789');
    expect(JSON.parse(req.body)).toMatchObject({
      redemptionId: '8878ru',
      billNumber: 'B-77',
      purpose: 'Testing',
      entity: { type: 'CUSTOMER', identifierType: 'mobile', identifierValue: '917939623972' },
    });
    expect(r.structuredContent).toMatchObject({
      redemption_id: '8878ru',
      bill_id: '1234567890123456789',
      bill_number: 'B-77',
      purpose: 'Testing',
    });
  });

  it('unlock_promised_points maps arguments to the documented query and table-form body', async () => {
    const r = await call(mcp.client, 'unlock_promised_points', {
      identifier_name: 'mobile',
      identifier_value: '919000000003',
      source: 'INSTORE',
      event_name: 'TransactionAdd',
      bill_number: 'B-1',
      event_log_id: '9001',
      line_item_ids: ['11', '12'],
      item_codes: ['SKU-1'],
      bill_date: '2024-02-29',
      source_store_id: '1122',
      source_till_id: '323',
      source_program_id: '2121',
    });
    expect(r.isError).toBeFalsy();
    const req = last();
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/v2/points/unlockPromisedPoints');
    expect(req.query).toEqual({
      identifierName: 'mobile',
      identifierValue: '919000000003',
      source: 'INSTORE',
      type: 'CUSTOMER',
    });
    const body = JSON.parse(req.body);
    expect(body).toEqual({
      eventName: 'TransactionAdd',
      billNumber: 'B-1',
      eventLogId: [9001],
      lineItemIds: [11, 12],
      itemCodes: ['SKU-1'],
      billDate: '2024-02-29',
      sourceStoreId: 1122,
      sourceTillId: 323,
      sourceProgramId: 2121,
    });
    expect(r.structuredContent.total_points_unlocked).toBe(30.5);
    expect(r.structuredContent.points_unlocked[1]).toEqual({
      bill_number: 'B-1',
      item_code: 'SKU-1',
      points: 24.5,
      program_id: '12',
    });
  });

  it('a v2 errors array is a failure with its code', async () => {
    const r = await call(mcp.client, 'unlock_promised_points', {
      identifier_name: 'mobile',
      identifier_value: '919000000003',
      source: 'INSTORE',
      event_name: 'TransactionAdd',
      bill_number: 'B-none',
    });
    expect(r.isError).toBe(true);
    expect(r.structuredContent.error).toMatchObject({
      code: 82323282,
      source: 'upstream',
      outcome: 'failed',
      http_status: 400,
    });
  });

  describe('local checks: a clear error naming the field and code, and nothing sent', () => {
    const cases: Array<[string, string, Record<string, unknown>, string | number, RegExp]> = [
      ['points 0', 'redeem_points', { customer: { mobile: '919000000001' }, points: 0 }, 801, /points/],
      [
        'negative points',
        'redeem_points',
        { customer: { mobile: '919000000001' }, points: -5 },
        801,
        /points/,
      ],
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
      [
        'no customer identifier',
        'redeem_points',
        { customer: {}, points: 5 },
        'invalid_argument',
        /customer/,
      ],
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
        8015,
        /bill_id/,
      ],
      ['bill_id as a number', 'update_redemption', { redemption_id: 'a', bill_id: 1234 }, 8015, /bill_id/],
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
        82323284,
        /source/,
      ],
    ];
    it.each(cases)('%s', async (_label, tool, args, code, message) => {
      const before = fake.requests.length;
      const r = await call(mcp.client, tool, args);
      expect(r.isError).toBe(true);
      expect(r.structuredContent.error).toMatchObject({
        code,
        source: 'validation',
        outcome: 'not_sent',
        retryable: false,
      });
      expect(r.structuredContent.error.message).toMatch(message);
      expect(fake.requests.length).toBe(before);
    });
  });
});
