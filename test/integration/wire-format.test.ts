import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CANARY, liveEnv } from '../fixtures/canary.js';
import { type Connected, call, connectStdio } from '../fixtures/clients.js';
import { codeIssuedAnswer, redeemableAnswer } from '../fixtures/doc-examples.js';
import { basicHeader, FakeCapillary, redeemOk, redeemRefused } from '../fixtures/fake-capillary.js';

/**
 * What each tool sends (method, path, query, headers, body) and how it reads the answer, over
 * stdio against a recording fake Capillary that answers as the API reference documents.
 */

const BASIC = basicHeader(CANARY.user, CANARY.password);

let fake: FakeCapillary;
let mcp: Connected;

beforeAll(async () => {
  // One recording fake for every tool (no two tools share a route), one server over stdio.
  fake = await new FakeCapillary()
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
    .on('GET', '/v2/customers/lookup/points/balance', {
      json: { data: { customerId: 7, loyaltyPoints: 12.5, promisedPoints: 0 }, errors: [], warnings: [] },
    })
    .on('GET', '/v1.1/points/isredeemable', redeemableAnswer(5, 'ok'))
    .on('GET', '/v1.1/points/validationcode', codeIssuedAnswer({ sandbox_validation_code: 'LEAK01' }))
    .on('POST', '/v2/points/reverse', {
      json: {
        redemptionId: 'R1',
        reversalId: 'V1',
        pointsReversed: 5,
        balance: 10,
        errors: [],
        warnings: [],
      },
    })
    .on('GET', '/api_gateway/v2/request-workflow/requests/d9df3b65-62a7-11ee-aa6d-0aaee4e533d2', {
      json: { data: { requestId: 'd9df3b65-62a7-11ee-aa6d-0aaee4e533d2', state: 'AdminTask' } },
    })
    .start();
  // skip_validation is allowed here: these tests check that every argument reaches the wire.
  mcp = await connectStdio(liveEnv(fake.url, { CAPILLARY_ALLOW_SKIP_VALIDATION: 'true' }));
});
afterAll(async () => {
  await mcp?.close();
  await fake?.close();
});

const last = () => fake.requests[fake.requests.length - 1];

describe('wire format: redeem, maker-checker request, update, unlock', () => {
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
      points_redeemed: 10.5,
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
      code: '816',
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
      code: '82323282',
      source: 'upstream',
      outcome: 'failed',
      http_status: 400,
    });
  });
});

describe('wire format: balance, check, validation code, reverse, request status', () => {
  it('get_points_balance', async () => {
    const r = await call(mcp.client, 'get_points_balance', {
      identifier_name: 'externalId',
      identifier_value: 'EXT-1',
    });
    expect(last()).toMatchObject({
      method: 'GET',
      path: '/v2/customers/lookup/points/balance',
      query: { source: 'INSTORE', identifierName: 'externalId', identifierValue: 'EXT-1' },
    });
    expect(last().headers.authorization).toMatch(/^Basic /);
    expect(r.structuredContent).toMatchObject({ environment: 'live', customer_id: '7', balance: 12.5 });
  });
  it('check_points_redeemable never asks for an OTP', async () => {
    await call(mcp.client, 'check_points_redeemable', {
      customer: { email: 'a@example.com' },
      points: 5.125,
      program_id: '9',
      group: { id: 'G' },
    });
    expect(last()).toMatchObject({ method: 'GET', path: '/v1.1/points/isredeemable' });
    expect(last().query).toEqual({
      format: 'json',
      email: 'a@example.com',
      points: '5.125',
      program_id: '9',
      issue_otp: 'false',
      group_redemption: 'true',
      user_group2_id: 'G',
    });
  });
  it('issue_redemption_code; a live server never passes on a code', async () => {
    const r = await call(mcp.client, 'issue_redemption_code', { customer: { id: '101' }, points: 5 });
    expect(last()).toMatchObject({
      method: 'GET',
      path: '/v1.1/points/validationcode',
      query: { format: 'json', id: '101', points: '5' },
    });
    expect(r.structuredContent).toEqual({
      environment: 'live',
      issued: true,
      message: 'Validation Code Issued by SMS',
    });
  });
  it('reverse_redemption', async () => {
    const r = await call(mcp.client, 'reverse_redemption', {
      redemption_id: 'R1',
      customer: { external_id: 'EXT-1' },
      points: 5,
    });
    expect(last()).toMatchObject({ method: 'POST', path: '/v2/points/reverse' });
    expect(JSON.parse(last().body)).toEqual({
      redemptionId: 'R1',
      pointsToBeReversed: '5',
      identifier: { type: 'externalId', value: 'EXT-1' },
    });
    expect(r.structuredContent).toMatchObject({ reversal_id: 'V1', points_reversed: 5, balance: 10 });
  });
  it('get_redemption_request puts only the checked id in the path, with workflow headers', async () => {
    await call(mcp.client, 'get_redemption_request', { request_id: 'd9df3b65-62a7-11ee-aa6d-0aaee4e533d2' });
    expect(last()).toMatchObject({
      method: 'GET',
      path: '/api_gateway/v2/request-workflow/requests/d9df3b65-62a7-11ee-aa6d-0aaee4e533d2',
      query: {},
    });
    expect(last().headers['x-cap-api-auth-org-id']).toBe('777');
    expect(last().headers['x-cap-ui-auth-token']).toBe('canary-ui-jwt-91ab');
  });
});
