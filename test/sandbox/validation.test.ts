import { afterEach, describe, expect, it } from 'vitest';
import { type SandboxHandle, startSandbox } from '../../src/sandbox/index.js';
import { balance, call, fakeClock, itemStatus, redeem } from '../fixtures/sandbox.js';

let sb: SandboxHandle | undefined;
afterEach(async () => {
  await sb?.close();
  sb = undefined;
});

describe('validation codes', () => {
  it('issues a 6-char code; re-issue in the window returns the same code', async () => {
    sb = await startSandbox();
    const a = await call(sb, 'GET', '/v1.1/points/validationcode?mobile=919000000004&points=100&format=json');
    expect(a.status).toBe(200);
    expect(a.json.response.status).toEqual({ success: 'true', code: 200, message: 'Operation Successful' });
    const code = a.json.response.validation_code.code;
    expect(code).toMatchObject({
      user_id: '104',
      mobile: '919000000004',
      points: 100,
      item_status: { success: 'true', code: 200, message: 'Validation Code Issued by SMS' },
    });
    expect(code.sandbox_validation_code).toMatch(/^[A-Z0-9]{6}$/);
    const b = await call(sb, 'GET', '/v1.1/points/validationcode?mobile=919000000004&points=100');
    expect(b.json.response.validation_code.code.sandbox_validation_code).toBe(code.sandbox_validation_code);
  });

  it('824 without a code for a customer that requires validation; skip_validation bypasses', async () => {
    sb = await startSandbox();
    const r = await redeem(sb, { points_redeemed: 10, customer: { mobile: '919000000004' } });
    expect(r.status).toBe(400);
    expect(itemStatus(r).code).toBe(824);
    const ok = await redeem(
      sb,
      { points_redeemed: 10, customer: { mobile: '919000000004' } },
      'skip_validation=true',
    );
    expect(ok.status).toBe(200);
    expect(await balance(sb, '919000000004')).toBe(1990);
  });

  it('a valid code redeems once; the code is consumed; a wrong code is 808', async () => {
    sb = await startSandbox();
    const v = await call(sb, 'GET', '/v1.1/points/validationcode?mobile=919000000004&points=50');
    const code = v.json.response.validation_code.code.sandbox_validation_code;
    const wrong = await redeem(sb, {
      points_redeemed: 50,
      customer: { mobile: '919000000004' },
      validation_code: 'ZZZZZZ',
    });
    expect(itemStatus(wrong)).toEqual({ success: 'false', code: 808, message: 'Invalid validation code' });
    const otherAmount = await redeem(sb, {
      points_redeemed: 51,
      customer: { mobile: '919000000004' },
      validation_code: code,
    });
    expect(itemStatus(otherAmount).code).toBe(808);
    const ok = await redeem(sb, {
      points_redeemed: 50,
      customer: { mobile: '919000000004' },
      validation_code: code,
    });
    expect(ok.status).toBe(200);
    expect(ok.json.response.responses.points.side_effects.effect[0].validation_code).toBe(code);
    const again = await redeem(sb, {
      points_redeemed: 50,
      customer: { mobile: '919000000004' },
      validation_code: code,
    });
    expect(itemStatus(again).code).toBe(808);
    expect(await balance(sb, '919000000004')).toBe(1950);
  });

  it('codes expire after otpValidityMs (808), using the now option', async () => {
    const clock = fakeClock();
    sb = await startSandbox({ now: clock.now, otpValidityMs: 60_000 });
    const v = await call(sb, 'GET', '/v1.1/points/validationcode?mobile=919000000004&points=20');
    const code = v.json.response.validation_code.code.sandbox_validation_code;
    expect(v.json.response.validation_code.code.sandbox_validation_code_expires_at).toBe(
      '2025-01-01T10:01:00Z',
    );
    clock.advance(60_001);
    const r = await redeem(sb, {
      points_redeemed: 20,
      customer: { mobile: '919000000004' },
      validation_code: code,
    });
    expect(r.status).toBe(400);
    expect(itemStatus(r).code).toBe(808);
    expect(await balance(sb, '919000000004')).toBe(2000);
    // after expiry a new code is issued
    const v2 = await call(sb, 'GET', '/v1.1/points/validationcode?mobile=919000000004&points=20');
    const code2 = v2.json.response.validation_code.code.sandbox_validation_code;
    clock.advance(59_000);
    const ok = await redeem(sb, {
      points_redeemed: 20,
      customer: { mobile: '919000000004' },
      validation_code: code2,
    });
    expect(ok.status).toBe(200);
  });

  it('validationcode errors: 816 unknown customer, 801 bad points', async () => {
    sb = await startSandbox();
    const a = await call(sb, 'GET', '/v1.1/points/validationcode?mobile=911&points=5');
    expect(a.status).toBe(400);
    expect(a.json.response.validation_code.code.item_status.code).toBe(816);
    const b = await call(sb, 'GET', '/v1.1/points/validationcode?mobile=919000000001&points=-5');
    expect(b.json.response.validation_code.code.item_status.code).toBe(801);
  });
});

describe('isredeemable', () => {
  it('returns the documented response.points.redeemable shape', async () => {
    sb = await startSandbox();
    const r = await call(
      sb,
      'GET',
      '/v1.1/points/isredeemable?mobile=919000000001&points=10&program_id=1&format=json',
    );
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      response: {
        status: { success: 'true', code: 200, message: 'Success' },
        points: {
          redeemable: {
            mobile: '919000000001',
            email: 'asha@example.com',
            external_id: 'EXT-101',
            points: 10,
            is_redeemable: 'true',
            points_redeem_value: 10,
            points_redeem_local_value: 10,
            input_type: 'points',
            points_currency_ratio: '1',
            item_status: { success: 'true', code: 800, message: 'Points can be redeemed' },
          },
        },
      },
    });
    expect(await balance(sb, '919000000001')).toBe(5000);
  });

  it('818 when the balance is short, 816 unknown, 878/801 bad points', async () => {
    sb = await startSandbox();
    const short = await call(sb, 'GET', '/v1.1/points/isredeemable?mobile=919000000001&points=5000.5');
    expect(short.status).toBe(400);
    expect(short.json.response.points.redeemable.is_redeemable).toBe('false');
    expect(short.json.response.points.redeemable.item_status.code).toBe(818);
    const unknown = await call(sb, 'GET', '/v1.1/points/isredeemable?mobile=910000000000&points=1');
    expect(unknown.json.response.points.redeemable.item_status.code).toBe(816);
    const prec = await call(sb, 'GET', '/v1.1/points/isredeemable?mobile=919000000001&points=1.2345');
    expect(prec.json.response.points.redeemable.item_status.code).toBe(878);
    const zero = await call(sb, 'GET', '/v1.1/points/isredeemable?mobile=919000000001&points=0');
    expect(zero.json.response.points.redeemable.item_status.code).toBe(801);
  });

  it('issue_otp=true issues a usable code; a wrong validation_code is 808', async () => {
    sb = await startSandbox();
    const r = await call(sb, 'GET', '/v1.1/points/isredeemable?mobile=919000000004&points=30&issue_otp=true');
    const red = r.json.response.points.redeemable;
    expect(red.is_redeemable).toBe('true');
    expect(red.sandbox_validation_code).toMatch(/^[A-Z0-9]{6}$/);
    const check = await call(
      sb,
      'GET',
      `/v1.1/points/isredeemable?mobile=919000000004&points=30&validation_code=${red.sandbox_validation_code}`,
    );
    expect(check.status).toBe(200);
    const wrong = await call(
      sb,
      'GET',
      '/v1.1/points/isredeemable?mobile=919000000004&points=30&validation_code=AAAAAA',
    );
    expect(wrong.json.response.points.redeemable.item_status.code).toBe(808);
    const ok = await redeem(sb, {
      points_redeemed: 30,
      customer: { mobile: '919000000004' },
      validation_code: red.sandbox_validation_code,
    });
    expect(ok.status).toBe(200);
  });
});
