import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type SandboxHandle, startSandbox } from '../../src/sandbox/index.js';
import { balance, call, itemStatus, redeem } from '../fixtures/sandbox.js';

let sb: SandboxHandle;
beforeEach(async () => {
  sb = await startSandbox();
});
afterEach(async () => {
  await sb.close();
});

describe('redeem: success envelope', () => {
  it('matches the documented shape and debits the balance', async () => {
    const r = await redeem(sb, {
      points_redeemed: 100,
      customer: { mobile: '919000000001' },
      transaction_number: 'bill-1',
      notes: 'hello',
    });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-length')).toBe(String(Buffer.byteLength(r.text)));
    expect(r.json.response.status).toEqual({ success: 'true', code: 200, message: 'Success' });
    const p = r.json.response.responses.points;
    expect(p.mobile).toBe('919000000001');
    expect(p.email).toBe('asha@example.com');
    expect(p.external_id).toBe('EXT-101');
    expect(p.user_id).toBe('101');
    expect(p.redemption_id).toMatch(/^[a-z0-9]{6}$/);
    expect(p.points_redeemed).toBe('100');
    expect(p.balance).toBe(4900);
    expect(p.redeemed_value).toBe(100);
    expect(p.side_effects.effect[0]).toMatchObject({
      case_value: 'false',
      num_points: 100,
      redeemed_on_bill_number: 'bill-1',
      redeemed_on_bill_id: -1,
      type: 'points',
    });
    expect(p.item_status).toEqual({ success: 'true', code: 800, message: 'Points Redeemed' });
    expect(await balance(sb, '919000000001')).toBe(4900);
  });

  it('accepts redeem as a single object and points as a string, and other identifiers', async () => {
    const r = await call(sb, 'POST', '/v1.1/points/redeem?format=json', {
      root: { redeem: { points_redeemed: '10.5', customer: { email: 'ASHA@example.com' } } },
    });
    expect(r.status).toBe(200);
    expect(r.json.response.responses.points.points_redeemed).toBe('10.5');
    const r2 = await redeem(sb, { points_redeemed: 1, customer: { external_id: 'EXT-101', id: 101 } });
    expect(r2.json.response.responses.points.balance).toBe(4988.5);
  });

  it('refuses identifiers that name different customers (816)', async () => {
    const r = await redeem(sb, { points_redeemed: 1, customer: { mobile: '919000000001', id: 102 } });
    expect(r.status).toBe(400);
    expect(itemStatus(r).code).toBe(816);
    expect(await balance(sb, '919000000001')).toBe(5000);
  });
});

describe('redeem: precision and amounts', () => {
  it('878 for more than three decimals, nothing written', async () => {
    for (const v of ['1.1111', 10.12345, '0.0001']) {
      const r = await redeem(sb, { points_redeemed: v, customer: { mobile: '919000000001' } });
      expect(r.status).toBe(400);
      expect(r.json.response.status).toEqual({
        success: 'false',
        code: 500,
        message: 'All requests have failed due to errors',
      });
      expect(itemStatus(r)).toEqual({
        success: 'false',
        code: 878,
        message: 'Invalid decimal precision in points redeemed',
      });
    }
    expect(await balance(sb, '919000000001')).toBe(5000);
  });

  it('801 for null, zero, negative and non-numbers', async () => {
    for (const v of [null, 0, '0', -5, '-1.5', 'abc', '', true]) {
      const r = await redeem(sb, { points_redeemed: v, customer: { mobile: '919000000001' } });
      expect(r.status, String(v)).toBe(400);
      expect(itemStatus(r).code, String(v)).toBe(801);
    }
    const missing = await redeem(sb, { customer: { mobile: '919000000001' } });
    expect(itemStatus(missing).code).toBe(801);
    expect(await balance(sb, '919000000001')).toBe(5000);
  });

  it('1.005 is exact (no float drift) and trailing zeros are fine', async () => {
    const r = await redeem(sb, { points_redeemed: 1.005, customer: { mobile: '919000000001' } });
    expect(r.json.response.responses.points.points_redeemed).toBe('1.005');
    expect(r.json.response.responses.points.balance).toBe(4998.995);
    expect(r.text).toContain('"balance":4998.995');
    const r2 = await redeem(sb, { points_redeemed: '0.1000', customer: { mobile: '919000000001' } });
    expect(r2.json.response.responses.points.points_redeemed).toBe('0.1');
    expect(r2.text).toContain('"balance":4998.895');
  });

  it('a 19-digit points value with float-unsafe digits is read exactly', async () => {
    const r = await call(
      sb,
      'POST',
      '/v1.1/points/redeem',
      '{"root":{"redeem":[{"points_redeemed":0.30000000000000004,"customer":{"mobile":"919000000001"}}]}}',
    );
    expect(itemStatus(r).code).toBe(878);
  });

  it('balance stays exact across 1000 redemptions of 0.001', async () => {
    for (let i = 0; i < 1000; i++) {
      const r = await redeem(sb, { points_redeemed: '0.001', customer: { mobile: '919000000001' } });
      expect(r.status).toBe(200);
    }
    expect(await balance(sb, '919000000001')).toBe(4999);
    const r = await redeem(sb, { points_redeemed: 0.001, customer: { mobile: '919000000001' } });
    expect(r.text).toContain('"balance":4998.999');
    const snap = sb.snapshot() as any;
    expect(snap.customers.find((c: any) => c.id === 101).pointsMilli).toBe(4_998_999);
  });

  it('803 insufficient points; the exact balance can be redeemed', async () => {
    const r = await redeem(sb, { points_redeemed: '5000.001', customer: { mobile: '919000000001' } });
    expect(r.status).toBe(400);
    expect(itemStatus(r).code).toBe(803);
    const r0 = await redeem(sb, { points_redeemed: 1, customer: { mobile: '919000000002' } });
    expect(itemStatus(r0).code).toBe(803);
    const ok = await redeem(sb, { points_redeemed: 5000, customer: { mobile: '919000000001' } });
    expect(ok.json.response.responses.points.balance).toBe(0);
  });

  it('816 for an unknown customer, echoing what was sent', async () => {
    const r = await redeem(sb, { points_redeemed: 1, customer: { mobile: '919999999999' } });
    expect(r.status).toBe(400);
    expect(r.json.response.responses.points.mobile).toBe('919999999999');
    expect(itemStatus(r)).toEqual({
      success: 'false',
      code: 816,
      message: 'Customer not found for organization',
    });
  });

  it('1632 for group parameters', async () => {
    const r = await redeem(
      sb,
      { points_redeemed: 1, customer: { mobile: '919000000001' } },
      'user_group2_id=77',
    );
    expect(itemStatus(r).code).toBe(1632);
  });

  it('rejects batches and missing root.redeem with a request-level 400', async () => {
    const two = await call(sb, 'POST', '/v1.1/points/redeem', {
      root: {
        redeem: [
          { points_redeemed: 1, customer: { mobile: '919000000001' } },
          { points_redeemed: 1, customer: { mobile: '919000000001' } },
        ],
      },
    });
    expect(two.status).toBe(400);
    expect(two.json.response.status.code).toBe(400);
    const none = await call(sb, 'POST', '/v1.1/points/redeem', { root: {} });
    expect(none.status).toBe(400);
    const bad = await call(sb, 'POST', '/v1.1/points/redeem', '{"root":');
    expect(bad.status).toBe(400);
    expect(bad.json.response.status.message).toBe('Invalid JSON body');
    expect(await balance(sb, '919000000001')).toBe(5000);
  });
});

describe('redeem: idempotency (external_reference_number)', () => {
  it('a repeat of a successful key returns the original response and debits once', async () => {
    const item = {
      points_redeemed: 250,
      customer: { mobile: '919000000001' },
      external_reference_number: 'K-1',
    };
    const a = await redeem(sb, item);
    expect(a.status).toBe(200);
    const b = await redeem(sb, item);
    expect(b.status).toBe(200);
    expect(b.text).toBe(a.text);
    // even with a different payload, the key wins
    const c = await redeem(sb, { ...item, points_redeemed: 999 });
    expect(c.text).toBe(a.text);
    expect(await balance(sb, '919000000001')).toBe(4750);
    const snap = sb.snapshot() as any;
    expect(snap.redemptions).toHaveLength(1);
  });

  it('the original response is replayed even after later redemptions changed the balance', async () => {
    const item = {
      points_redeemed: 100,
      customer: { mobile: '919000000001' },
      external_reference_number: 'K-2',
    };
    const a = await redeem(sb, item);
    await redeem(sb, { points_redeemed: 100, customer: { mobile: '919000000001' } });
    const b = await redeem(sb, item);
    expect(b.json.response.responses.points.balance).toBe(4900);
    expect(b.text).toBe(a.text);
    expect(await balance(sb, '919000000001')).toBe(4800);
  });

  it('a key whose redemption failed cannot be reused (830)', async () => {
    const bad = await redeem(sb, {
      points_redeemed: 99999,
      customer: { mobile: '919000000001' },
      external_reference_number: 'K-3',
    });
    expect(itemStatus(bad).code).toBe(803);
    const retry = await redeem(sb, {
      points_redeemed: 1,
      customer: { mobile: '919000000001' },
      external_reference_number: 'K-3',
    });
    expect(retry.status).toBe(400);
    expect(itemStatus(retry).code).toBe(830);
    expect(itemStatus(retry).message).toContain('803');
    expect(await balance(sb, '919000000001')).toBe(5000);
  });
});
