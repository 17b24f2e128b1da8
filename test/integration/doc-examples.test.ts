import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CANARY, liveEnv } from '../fixtures/canary.js';
import { tempDir } from '../fixtures/cli.js';
import { type Connected, call, connectStdio } from '../fixtures/clients.js';
import {
  codeIssuedAnswer,
  REDEEM_RESPONSE,
  REQUEST_ID,
  redeemableAnswer,
  UNLOCK_EXAMPLE,
  UNLOCK_RESPONSE,
  UPDATE_RESPONSE_TEXT,
  workflowResponse,
} from '../fixtures/doc-examples.js';
import { basicHeader, FakeCapillary, type Recorded } from '../fixtures/fake-capillary.js';

/**
 * Every tool called with the API pages' own example values, as JSON numbers where the pages show
 * numbers (and as many clients send ids and mobiles), through the real MCP client over stdio,
 * against a recording fake that answers with the pages' example responses. Each request is
 * asserted on the exact wire: method, path, query, headers and the body's text (number tokens
 * included).
 */

const BASIC = basicHeader(CANARY.user, CANARY.password);
const WORKFLOW = '/api_gateway/v2/request-workflow/POINTS-REDEMPTION';

let fake: FakeCapillary;
let mcp: Connected;

beforeAll(async () => {
  fake = await new FakeCapillary()
    .on('POST', '/v1.1/points/redeem', { json: REDEEM_RESPONSE })
    .on('GET', '/v1.1/points/isredeemable', redeemableAnswer(1))
    .on('GET', '/v1.1/points/validationcode', codeIssuedAnswer())
    .on('POST', WORKFLOW, (req) => ({
      json: workflowResponse(JSON.parse(req.body).payload['IntouchAPITask-Payload']),
    }))
    .on('GET', `/api_gateway/v2/request-workflow/requests/${REQUEST_ID}`, {
      json: { data: { requestId: REQUEST_ID, state: 'AdminTask', startTime: '2023-10-04T16:49:14' } },
    })
    .on('PUT', '/v2/points/updateRedemption', { text: UPDATE_RESPONSE_TEXT })
    .on('POST', '/v2/points/unlockPromisedPoints', { json: UNLOCK_RESPONSE })
    .on('POST', '/v2/points/reverse', {
      json: {
        redemptionId: '7t4y2a',
        pointsReversed: 1,
        reversalId: 'V1',
        balance: 1991,
        errors: [],
        warnings: [],
      },
    })
    .on('GET', '/v2/customers/lookup/points/balance', {
      json: {
        data: { customerId: 564670755, loyaltyPoints: 1990, promisedPoints: 0 },
        errors: [],
        warnings: [],
      },
    })
    .start();
  // The workflow page's own example files with skip_validation "true", which this server must allow.
  mcp = await connectStdio(liveEnv(fake.url, { CAPILLARY_ALLOW_SKIP_VALIDATION: 'true' }));
});
afterAll(async () => {
  await mcp?.close();
  await fake?.close();
});

const last = (): Recorded => fake.requests[fake.requests.length - 1];

/** Calls a tool, expects it accepted, and returns the one request it sent. */
async function sent(name: string, args: Record<string, unknown>): Promise<{ req: Recorded; out: any }> {
  const before = fake.requests.length;
  const r = await call(mcp.client, name, args);
  expect(r.isError, JSON.stringify(r.structuredContent)).toBeFalsy();
  expect(fake.requests.length).toBe(before + 1);
  return { req: last(), out: r.structuredContent };
}

const json = { accept: 'application/json', 'content-type': 'application/json', authorization: BASIC };

describe("every tool takes the pages' example values, numbers as numbers, and sends them exactly", () => {
  it('redeem_points (redeem-points.txt): program_id 973 and a mobile sent as JSON numbers', async () => {
    const { req } = await sent('redeem_points', {
      customer: { mobile: 919777788221 },
      points: 1,
      transaction_number: 'bilnum100000',
      notes: 'Redeemed to transfer points to the friend',
      validation_code: 'NS3U05',
      custom_fields: { point_transfered_to: 9777788221 },
      program_id: 973,
      skip_validation: false,
    });
    expect(req).toMatchObject({ method: 'POST', path: '/v1.1/points/redeem', headers: json });
    expect(req.query).toEqual({ format: 'json', program_id: '973', skip_validation: 'false' });
    const key = JSON.parse(req.body).root.redeem[0].external_reference_number;
    expect(key).toMatch(/^mcp-rdm-/);
    expect(req.body).toBe(
      `{"root":{"redeem":[{"points_redeemed":"1","customer":{"mobile":"919777788221"},"transaction_number":"bilnum100000","notes":"Redeemed to transfer points to the friend","validation_code":"NS3U05","external_reference_number":"${key}","custom_fields":{"field":[{"name":"point_transfered_to","value":"9777788221"}]}}]}}`,
    );
  });

  it('check_points_redeemable: INSTORE as the primary user source, ids as numbers', async () => {
    const { req } = await sent('check_points_redeemable', {
      customer: { mobile: 919777788221 },
      points: 1,
      program_id: 973,
      validation_code: 'NS3U05',
      group: {
        id: 9001,
        primary_user_source: 'INSTORE',
        primary_user_identifier_type: 'mobile',
        primary_user_identifier_value: 919777788221,
      },
    });
    expect(req).toMatchObject({ method: 'GET', path: '/v1.1/points/isredeemable', body: '' });
    expect(req.headers.authorization).toBe(BASIC);
    expect(req.query).toEqual({
      format: 'json',
      mobile: '919777788221',
      points: '1',
      program_id: '973',
      issue_otp: 'false',
      validation_code: 'NS3U05',
      group_redemption: 'true',
      user_group2_id: '9001',
      user_group2_primary_user_source: 'INSTORE',
      user_group2_primary_user_identifier_type: 'mobile',
      user_group2_primary_user_identifier_value: '919777788221',
    });
  });

  it('issue_redemption_code', async () => {
    const { req } = await sent('issue_redemption_code', { customer: { mobile: 919777788221 }, points: 1 });
    expect(req).toMatchObject({ method: 'GET', path: '/v1.1/points/validationcode' });
    expect(req.query).toEqual({ format: 'json', mobile: '919777788221', points: '1' });
  });

  it('request_points_redemption (points-redemption-request-workflow.txt)', async () => {
    const { req } = await sent('request_points_redemption', {
      entity: { till_id: 50682289, store_id: '50682288', zone_id: 50682286, concept_id: '50678331' },
      customer: { mobile: 9877792149 },
      points: 100,
      redemption_time: '2020-04-15 23:01:46',
      transaction_number: 'numbr892723330323421971280',
      notes: 'Redemption by SMS',
      external_reference_number: 'ACR-583523332039150121',
      skip_validation: true,
    });
    expect(req).toMatchObject({ method: 'POST', path: WORKFLOW, query: {} });
    expect(req.headers).toMatchObject({
      ...json,
      'x-cap-api-auth-org-id': CANARY.orgId,
      'x-cap-ui-auth-token': CANARY.uiToken,
    });
    expect(req.body).toBe(
      JSON.stringify({
        entityInfo: { tillId: '50682289', storeId: '50682288', zoneId: '50682286', conceptId: '50678331' },
        payload: {
          'IntouchAPITask-Payload': {
            hostname: fake.url,
            path: '/v1.1/points/redeem',
            method: 'POST',
            pathParams: {},
            queryParams: { format: 'json', skip_validation: 'true' },
            body: {
              root: {
                redeem: [
                  {
                    points_redeemed: '100',
                    customer: { mobile: '9877792149' },
                    transaction_number: 'numbr892723330323421971280',
                    notes: 'Redemption by SMS',
                    redemption_time: '2020-04-15 23:01:46',
                    external_reference_number: 'ACR-583523332039150121',
                  },
                ],
              },
            },
            headers: {
              Authorization: BASIC,
              'content-type': 'application/json',
              'X-CAP-CLIENT-SIGNATURE': CANARY.signature,
            },
          },
        },
      }),
    );
  });

  it('get_redemption_request', async () => {
    const { req } = await sent('get_redemption_request', { request_id: REQUEST_ID });
    expect(req).toMatchObject({
      method: 'GET',
      path: `/api_gateway/v2/request-workflow/requests/${REQUEST_ID}`,
      query: {},
      body: '',
    });
    expect(req.headers['x-cap-api-auth-org-id']).toBe(CANARY.orgId);
  });

  it('update_redemption (update-redemption.txt): billId 12345 as a number goes out as the token 12345', async () => {
    const { req } = await sent('update_redemption', {
      redemption_id: '8878ru',
      bill_number: 'number7939623972',
      bill_id: 12345,
      purpose: 'Testing',
      entity: { type: 'CUSTOMER', identifier_type: 'mobile', identifier_value: 917939623972 },
    });
    expect(req).toMatchObject({
      method: 'PUT',
      path: '/v2/points/updateRedemption',
      query: {},
      headers: json,
    });
    expect(req.body).toBe(
      '{"redemptionId":"8878ru","billNumber":"number7939623972","billId":12345,"purpose":"Testing","entity":{"type":"CUSTOMER","identifierType":"mobile","identifierValue":"917939623972"}}',
    );
  });

  it('unlock_promised_points (unlock-promised-points.txt): billNumber 16484, the ids and lineItemIds as numbers', async () => {
    const { req } = await sent('unlock_promised_points', UNLOCK_EXAMPLE);
    expect(req).toMatchObject({ method: 'POST', path: '/v2/points/unlockPromisedPoints', headers: json });
    expect(req.query).toEqual({
      identifierName: 'mobile',
      identifierValue: '919777788221',
      source: 'INSTORE',
      type: 'CUSTOMER',
    });
    // billNumber is a String in the table: the number is sent as its digits in a string.
    expect(req.body).toBe(
      '{"eventName":"TransactionAdd","billNumber":"16484","eventLogId":[1235315],"lineItemIds":[64384,64743,94745],"itemCodes":["gd739","gd123"],"billDate":"2022-02-12","sourceStoreId":1122,"sourceTillId":323,"sourceProgramId":2121}',
    );
  });

  it('reverse_redemption (the redemption of the redeem example)', async () => {
    const { req } = await sent('reverse_redemption', {
      redemption_id: '7t4y2a',
      customer: { mobile: 919777788221 },
      points: 1,
    });
    expect(req).toMatchObject({ method: 'POST', path: '/v2/points/reverse', query: {}, headers: json });
    expect(req.body).toBe(
      '{"redemptionId":"7t4y2a","pointsToBeReversed":"1","identifier":{"type":"mobile","value":"919777788221"}}',
    );
  });

  it('get_points_balance', async () => {
    const { req } = await sent('get_points_balance', {
      identifier_name: 'mobile',
      identifier_value: 919777788221,
    });
    expect(req).toMatchObject({ method: 'GET', path: '/v2/customers/lookup/points/balance', body: '' });
    expect(req.query).toEqual({
      source: 'INSTORE',
      identifierName: 'mobile',
      identifierValue: '919777788221',
    });
  });
});

describe('numbers the server cannot take exactly, and error codes that name the real problem', () => {
  const refused = async (name: string, args: Record<string, unknown>) => {
    const before = fake.requests.length;
    const r = await call(mcp.client, name, args);
    expect(r.isError).toBe(true);
    expect(fake.requests.length).toBe(before);
    return r.structuredContent.error;
  };
  const unlock = {
    identifier_name: 'mobile',
    identifier_value: '919777788221',
    source: 'INSTORE',
    event_name: 'TransactionAdd',
  };

  it('an id above 2^53-1 sent as a JSON number is refused: send it as a string', async () => {
    const e = await refused('update_redemption', { redemption_id: '8878ru', bill_id: 1.2345678901234567e19 });
    expect(e).toMatchObject({ code: 'invalid_argument', field: 'bill_id', outcome: 'not_sent' });
    expect(e.message).toMatch(/send this id as a string/);
    const l = await refused('unlock_promised_points', {
      ...unlock,
      bill_number: 'B1',
      line_item_ids: [1, 2 ** 60],
    });
    expect(l).toMatchObject({ code: 'invalid_argument', field: 'line_item_ids.1' });
    expect(l.message).toMatch(/send this id as a string/);
    // The same digits as a string are taken and sent exactly.
    await sent('update_redemption', {
      redemption_id: '8878ru',
      bill_id: '12345678901234567890'.slice(0, 19),
    });
    expect(last().body).toContain('"billId":1234567890123456789');
  });

  it('a fraction or a negative number where an id is expected is refused by name', async () => {
    expect((await refused('update_redemption', { redemption_id: '8878ru', bill_id: 12.5 })).message).toMatch(
      /whole number/,
    );
    expect(
      (await refused('get_points_balance', { identifier_name: 'id', identifier_value: -4 })).message,
    ).toMatch(/whole number >= 0/);
  });

  it('points a float multipleOf would refuse (2.675) are accepted and sent exactly; 4 decimals are 878', async () => {
    await sent('issue_redemption_code', { customer: { mobile: '919777788221' }, points: 2.675 });
    expect(last().query.points).toBe('2.675');
    const e = await refused('issue_redemption_code', {
      customer: { mobile: '919777788221' },
      points: 2.6751,
    });
    expect(e.code).toBe('878');
  });

  it('a bill number of the wrong type is an invalid argument, not "bill number missing"; a missing one is 82323271', async () => {
    const wrong = await refused('unlock_promised_points', { ...unlock, bill_number: true });
    expect(wrong).toMatchObject({ code: 'invalid_argument', field: 'bill_number' });
    const missing = await refused('unlock_promised_points', unlock);
    expect(missing).toMatchObject({ code: '82323271', field: 'bill_number' });
    expect(missing.message).toBe('bill_number: required');
  });

  it('a malformed bill_id or identifier is an invalid argument, not 8015 "customer not found"', async () => {
    expect((await refused('update_redemption', { redemption_id: '8878ru', bill_id: 'x1' })).code).toBe(
      'invalid_argument',
    );
    expect(
      (await refused('get_points_balance', { identifier_name: 'mobile', identifier_value: true })).code,
    ).toBe('invalid_argument');
  });
});

describe('the same forms against the embedded sandbox', () => {
  let sb: Connected;
  beforeAll(async () => {
    sb = await connectStdio({ CAPILLARY_DATA_DIR: tempDir() });
  });
  afterAll(async () => sb?.close());

  it('a group redemption naming its primary member by source INSTORE, mobiles and the group id as numbers', async () => {
    const group = {
      id: 9001,
      primary_user_source: 'INSTORE',
      primary_user_identifier_type: 'mobile',
      primary_user_identifier_value: 919000000201,
    };
    const check = await call(sb.client, 'check_points_redeemable', {
      customer: { mobile: 919000000202 },
      points: 25,
      group,
    });
    expect(check.structuredContent).toMatchObject({ redeemable: true });
    const r = await call(sb.client, 'redeem_points', {
      customer: { mobile: 919000000202 },
      points: 25,
      group,
    });
    expect(r.isError, JSON.stringify(r.structuredContent)).toBeFalsy();
    // The group's pool (3000 in the default seed) paid, not the member's own 50 points.
    expect(r.structuredContent.balance).toBe(2975);
  });
});

describe("the pages' example responses: every documented field an agent can use reaches structuredContent", () => {
  it('redeem: deductions (side_effects.effect), local value, the customer identifiers; no -1 bill id, no validation code', async () => {
    const { out } = await sent('redeem_points', {
      customer: { mobile: '919777788221' },
      points: 1,
      notes: 'fields',
    });
    expect(out).toMatchObject({
      redemption_id: '7t4y2a',
      points_redeemed: 1,
      balance: 1990,
      redeemed_value: 1,
      redeemed_local_value: 1,
      user_id: '564670755',
      customer: { mobile: '919777788221', email: 'asha@example.com', external_id: '123456' },
      item_status: { success: true, code: 800, message: 'Points Redeemed' },
    });
    expect(out.deductions).toEqual([
      {
        id: '27141811',
        type: 'points',
        points: 1,
        currency_value: 1,
        summary_id: '27141811',
        bill_number: 'bilnum100000',
      },
    ]);
    expect(out).not.toHaveProperty('purpose');
    expect(JSON.stringify(out)).not.toContain('NS3U05');
  });

  it('update: program, till, times, deductions', async () => {
    const { out } = await sent('update_redemption', { redemption_id: '8878ru', purpose: 'Testing' });
    expect(out).toEqual({
      environment: 'live',
      redemption_id: '8878ru',
      external_reference_number: 'ACR-5801353177',
      bill_number: 'number7939623972',
      bill_id: '12345',
      purpose: 'Testing',
      points_redeemed: 100,
      customer_id: '346926900',
      program_id: '1098',
      till_id: '50149495',
      notes: 'Redemption by SMS',
      redemption_time: '2024-07-26T10:52:24.000Z',
      points_redemption_time: '2024-07-26T05:22:25.000Z',
      redemption_date: '2024-07-26T10:52:24Z',
      point_deductions: [],
      warnings: [],
    });
  });

  it('unlock: a promotion unlock is told from a bill unlock by its promotion fields', async () => {
    const { out } = await sent('unlock_promised_points', {
      identifier_name: 'mobile',
      identifier_value: '919777788221',
      source: 'INSTORE',
      event_name: 'TransactionAdd',
      bill_number: '374',
    });
    expect(out.points_unlocked).toEqual([
      { bill_number: '374', points: 6, program_id: '56' },
      { bill_number: '374', item_code: '7583', points: 24, program_id: '12' },
      { bill_number: '374', item_code: '4364', points: 12, program_id: '34' },
      {
        points: 24,
        program_id: '12',
        promotion_id: '12',
        promotion_identifier: 'id1',
        promotion_name: 'promotion 1',
      },
    ]);
    expect(out.total_points_unlocked).toBe(66);
  });

  it("maker-checker: the maker's user id and name", async () => {
    const { out } = await sent('request_points_redemption', {
      entity: { till_id: '50682289' },
      customer: { mobile: '9877792149' },
      points: 7,
    });
    expect(out).toMatchObject({
      request_id: REQUEST_ID,
      state: 'AdminTask',
      request_type: 'points-redemption',
      start_time: '2023-10-04T16:49:14',
      maker: { user_id: '232134', user_name: 'maker@example.com' },
    });
  });
});
