import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeUpstream } from './helpers/fake-upstream.js';
import { type Connected, call, connectStdio, liveEnv, tempDir } from './helpers/mcp.js';

const ASHA = { mobile: '919000000001' };
const balanceOf = async (m: Connected, mobile: string) => {
  const r = await call(m.client, 'get_points_balance', {
    identifier_name: 'mobile',
    identifier_value: mobile,
  });
  expect(r.isError).toBeFalsy();
  return r.structuredContent.balance as number;
};

describe('companion tools against the embedded sandbox', () => {
  let m: Connected;
  beforeAll(async () => {
    m = await connectStdio({ CAPILLARY_DATA_DIR: tempDir() });
  });
  afterAll(async () => m?.close());

  it('the whole safe workflow: balance, check, code, redeem, verify, reverse, verify', async () => {
    const mobile = '919000000004'; // requires a validation code
    const start = await balanceOf(m, mobile);
    expect(start).toBe(2000);
    const check = await call(m.client, 'check_points_redeemable', { customer: { mobile }, points: 150.25 });
    expect(check.structuredContent).toMatchObject({ environment: 'sandbox', redeemable: true, code: 800 });
    const noCode = await call(m.client, 'redeem_points', { customer: { mobile }, points: 150.25 });
    expect(noCode.structuredContent.error.code).toBe(824);
    const code = await call(m.client, 'issue_redemption_code', { customer: { mobile }, points: 150.25 });
    expect(code.structuredContent.issued).toBe(true);
    const otp = code.structuredContent.sandbox_validation_code;
    expect(otp).toMatch(/^[A-Z0-9]{4,12}$/);
    const again = await call(m.client, 'issue_redemption_code', { customer: { mobile }, points: 150.25 });
    expect(again.structuredContent.sandbox_validation_code).toBe(otp);
    const valid = await call(m.client, 'check_points_redeemable', {
      customer: { mobile },
      points: 150.25,
      validation_code: otp,
    });
    expect(valid.structuredContent.redeemable).toBe(true);
    const r = await call(m.client, 'redeem_points', {
      customer: { mobile },
      points: 150.25,
      validation_code: otp,
      notes: 'voucher',
    });
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent.balance).toBe(1849.75);
    expect(await balanceOf(m, mobile)).toBe(1849.75);
    const part = await call(m.client, 'reverse_redemption', {
      redemption_id: r.structuredContent.redemption_id,
      customer: { mobile },
      points: 50,
    });
    expect(part.structuredContent).toMatchObject({ points_reversed: 50, balance: 1899.75 });
    expect(await balanceOf(m, mobile)).toBe(1899.75);
    const rest = await call(m.client, 'reverse_redemption', {
      redemption_id: r.structuredContent.redemption_id,
      customer: { mobile },
    });
    expect(rest.structuredContent).toMatchObject({ points_reversed: 100.25, balance: 2000 });
    expect(await balanceOf(m, mobile)).toBe(2000);
    const twice = await call(m.client, 'reverse_redemption', {
      redemption_id: r.structuredContent.redemption_id,
      customer: { mobile },
      points: 1,
    });
    expect(twice.isError).toBe(true);
    expect(twice.structuredContent.error).toMatchObject({ source: 'upstream', outcome: 'failed' });
    expect(await balanceOf(m, mobile)).toBe(2000);
  });

  it('check_points_redeemable answers "no" with the reason instead of failing', async () => {
    const poor = await call(m.client, 'check_points_redeemable', {
      customer: { mobile: '919000000002' },
      points: 10,
    });
    expect(poor.isError).toBeFalsy();
    expect(poor.structuredContent).toMatchObject({ redeemable: false, code: 818 });
    const nobody = await call(m.client, 'check_points_redeemable', {
      customer: { mobile: '919999999999' },
      points: 10,
    });
    expect(nobody.structuredContent).toMatchObject({ redeemable: false, code: 816 });
    const badCode = await call(m.client, 'check_points_redeemable', {
      customer: ASHA,
      points: 10,
      validation_code: 'ZZZZ99',
    });
    expect(badCode.structuredContent).toMatchObject({ redeemable: false, code: 808 });
  });

  it('get_points_balance shows promised points by bill, and unlocking moves them to the balance once', async () => {
    const b = await call(m.client, 'get_points_balance', {
      identifier_name: 'mobile',
      identifier_value: '919000000003',
    });
    expect(b.structuredContent).toMatchObject({ balance: 1000, promised_points: 120 });
    expect(b.structuredContent.promised[0]).toMatchObject({
      bill_number: 'B-1001',
      points: 120,
      event_name: 'TransactionAdd',
    });
    const u = await call(m.client, 'unlock_promised_points', {
      identifier_name: 'mobile',
      identifier_value: '919000000003',
      source: 'INSTORE',
      event_name: 'TransactionAdd',
      bill_number: 'B-1001',
    });
    expect(u.structuredContent.total_points_unlocked).toBe(120);
    expect(await balanceOf(m, '919000000003')).toBe(1120);
    const again = await call(m.client, 'unlock_promised_points', {
      identifier_name: 'mobile',
      identifier_value: '919000000003',
      source: 'INSTORE',
      event_name: 'TransactionAdd',
      bill_number: 'B-1001',
    });
    expect(again.structuredContent.error.code).toBe(82323282);
    const missing = await call(m.client, 'get_points_balance', {
      identifier_name: 'mobile',
      identifier_value: '919999999999',
    });
    expect(missing.isError).toBe(true);
    expect(missing.structuredContent.error.source).toBe('upstream');
  });

  it('maker-checker: a filed request waits in AdminTask and get_redemption_request follows it', async () => {
    const before = await balanceOf(m, '919000000001');
    const r = await call(m.client, 'request_points_redemption', {
      entity: { till_id: '50682289' },
      customer: ASHA,
      points: 40,
    });
    expect(r.structuredContent.state).toBe('AdminTask');
    const s = await call(m.client, 'get_redemption_request', { request_id: r.structuredContent.request_id });
    expect(s.structuredContent).toMatchObject({
      request_id: r.structuredContent.request_id,
      state: 'AdminTask',
    });
    expect(await balanceOf(m, '919000000001')).toBe(before);
    const unknown = await call(m.client, 'get_redemption_request', {
      request_id: '00000000-0000-4000-8000-000000000000',
    });
    expect(unknown.structuredContent.error).toMatchObject({ source: 'upstream', http_status: 404 });
    const bad = await call(m.client, 'get_redemption_request', { request_id: '../../v1.1/points/redeem' });
    expect(bad.structuredContent.error).toMatchObject({ source: 'validation', field: 'request_id' });
  });

  it('reverse_redemption refuses more than was redeemed', async () => {
    const r = await call(m.client, 'redeem_points', {
      customer: ASHA,
      points: 10,
      external_reference_number: 'rev-limit-1',
    });
    const over = await call(m.client, 'reverse_redemption', {
      redemption_id: r.structuredContent.redemption_id,
      customer: ASHA,
      points: 11,
    });
    expect(over.structuredContent.error).toMatchObject({ source: 'upstream', outcome: 'failed' });
  });

  it('read-only mode lists exactly the read-only tools, and each is callable', async () => {
    const ro = await connectStdio({ CAPILLARY_DATA_DIR: tempDir(), CAPILLARY_READ_ONLY: 'true' });
    try {
      const { tools } = await ro.client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual([
        'check_points_redeemable',
        'get_points_balance',
        'get_redemption_request',
      ]);
      expect(
        (
          await call(ro.client, 'get_points_balance', {
            identifier_name: 'mobile',
            identifier_value: '919000000001',
          })
        ).structuredContent.balance,
      ).toBe(5000);
      expect(
        (await call(ro.client, 'check_points_redeemable', { customer: ASHA, points: 1 })).structuredContent
          .redeemable,
      ).toBe(true);
      const g = await call(ro.client, 'get_redemption_request', {
        request_id: '00000000-0000-4000-8000-000000000000',
      });
      expect(g.structuredContent.error.http_status).toBe(404);
    } finally {
      await ro.close();
    }
  });

  it('the prompt lays out the safe workflow', async () => {
    const { prompts } = await m.client.listPrompts();
    expect(prompts.map((p) => p.name)).toContain('redeem_points_for_customer');
    const p = await m.client.getPrompt({
      name: 'redeem_points_for_customer',
      arguments: { customer: 'mobile 919000000001', points: '100', reason: 'voucher' },
    });
    const text = (p.messages[0].content as any).text as string;
    for (const step of [
      'get_points_balance',
      'check_points_redeemable',
      'issue_redemption_code',
      'redeem_points',
      'replayed',
      'unknown',
    ])
      expect(text).toContain(step);
  });
});

describe('companion tools: wire format against the recording fake', () => {
  let fake: FakeUpstream;
  let m: Connected;
  beforeAll(async () => {
    fake = await new FakeUpstream()
      .on('GET', '/v2/customers/lookup/points/balance', {
        json: { data: { customerId: 7, loyaltyPoints: 12.5, promisedPoints: 0 }, errors: [], warnings: [] },
      })
      .on('GET', '/v1.1/points/isredeemable', {
        json: {
          response: {
            status: { success: 'true', code: 200, message: 'Success' },
            points: {
              redeemable: {
                is_redeemable: 'true',
                points_redeem_value: 5,
                item_status: { success: 'true', code: 800, message: 'ok' },
              },
            },
          },
        },
      })
      .on('GET', '/v1.1/points/validationcode', {
        json: {
          response: {
            status: { success: 'true', code: 200, message: 'ok' },
            validation_code: {
              code: {
                item_status: { success: 'true', code: 200, message: 'Validation Code Issued by SMS' },
                sandbox_validation_code: 'LEAK01',
              },
            },
          },
        },
      })
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
    m = await connectStdio(liveEnv(fake.url));
  });
  afterAll(async () => {
    await m?.close();
    await fake?.close();
  });
  const last = () => fake.requests[fake.requests.length - 1];

  it('get_points_balance', async () => {
    const r = await call(m.client, 'get_points_balance', {
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
    await call(m.client, 'check_points_redeemable', {
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
    const r = await call(m.client, 'issue_redemption_code', { customer: { id: '101' }, points: 5 });
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
    const r = await call(m.client, 'reverse_redemption', {
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
    await call(m.client, 'get_redemption_request', { request_id: 'd9df3b65-62a7-11ee-aa6d-0aaee4e533d2' });
    expect(last()).toMatchObject({
      method: 'GET',
      path: '/api_gateway/v2/request-workflow/requests/d9df3b65-62a7-11ee-aa6d-0aaee4e533d2',
      query: {},
    });
    expect(last().headers['x-cap-api-auth-org-id']).toBe('777');
    expect(last().headers['x-cap-ui-auth-token']).toBe('canary-ui-jwt-91ab');
  });
});
