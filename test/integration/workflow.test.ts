import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../fixtures/cli.js';
import { type Connected, call, connectStdio } from '../fixtures/clients.js';

/** The agent's whole workflow through every tool, against the embedded sandbox (no configuration). */

const ASHA = { mobile: '919000000001' };
const balanceOf = async (m: Connected, mobile: string) => {
  const r = await call(m.client, 'get_points_balance', {
    identifier_name: 'mobile',
    identifier_value: mobile,
  });
  expect(r.isError).toBeFalsy();
  return r.structuredContent.balance as number;
};

describe('the workflow against the embedded sandbox', () => {
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
    expect(noCode.structuredContent.error.code).toBe('824');
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
    expect(again.structuredContent.error.code).toBe('82323282');
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
