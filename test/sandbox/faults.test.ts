import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SEED, type SandboxHandle, type SandboxSeed, startSandbox } from '../../src/sandbox/index.js';
import { AUTH, balance, call, redeem, WF_HEADERS } from '../fixtures/sandbox.js';

let sb: SandboxHandle | undefined;
afterEach(async () => {
  await sb?.close();
  sb = undefined;
});

const item = (mobile: string, extra: Record<string, unknown> = {}) => ({
  points_redeemed: 100,
  customer: { mobile },
  ...extra,
});

describe('fault customers (default seed: every request)', () => {
  it('error_500: HTTP 500, nothing written', async () => {
    sb = await startSandbox();
    for (let i = 0; i < 2; i++) {
      const r = await redeem(sb, item('919000000500', { external_reference_number: 'F-500' }));
      expect(r.status).toBe(500);
      expect(r.json.response.status).toMatchObject({ success: 'false', code: 500 });
    }
    expect(await balance(sb, '919000000500')).toBe(10000);
    const snap = sb.snapshot() as any;
    expect(snap.redemptions).toHaveLength(0);
    expect(snap.idempotency).toEqual({});
  });

  it('lost_response: the redemption is written, the connection is dropped without a response', async () => {
    sb = await startSandbox();
    await expect(redeem(sb, item('919000000599', { external_reference_number: 'F-599' }))).rejects.toThrow();
    expect(await balance(sb, '919000000599')).toBe(9900);
    // a retry with the same key is also lost (every request), but writes nothing more
    await expect(redeem(sb, item('919000000599', { external_reference_number: 'F-599' }))).rejects.toThrow();
    expect(await balance(sb, '919000000599')).toBe(9900);
    const snap = sb.snapshot() as any;
    expect(snap.redemptions).toHaveLength(1);
  });

  it('locked_521: 521 "multiple actions running for same customer", nothing written', async () => {
    sb = await startSandbox();
    const r = await redeem(sb, item('919000000521'));
    expect(r.status).toBe(521);
    expect(r.json).toEqual({
      response: {
        status: { success: 'false', code: 521, message: 'multiple actions running for same customer' },
      },
    });
    expect(await balance(sb, '919000000521')).toBe(10000);
  });

  it('rate_limited_429: 429 with Retry-After: 1, nothing written', async () => {
    sb = await startSandbox();
    const r = await redeem(sb, item('919000000429'));
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBe('1');
    expect(r.json.response.status.code).toBe(429);
    expect(await balance(sb, '919000000429')).toBe(10000);
  });

  it('non-mutating endpoints are not affected', async () => {
    sb = await startSandbox();
    const r = await call(sb, 'GET', '/v1.1/points/isredeemable?mobile=919000000500&points=1');
    expect(r.status).toBe(200);
  });
});

describe('faults with times: retry then success', () => {
  const seed = (kind: string): SandboxSeed => ({
    customers: [{ id: 1, mobile: '911000000001', points: 1000, fault: { kind: kind as any, times: 1 } }],
  });

  for (const [kind, status] of [
    ['error_500', 500],
    ['locked_521', 521],
    ['rate_limited_429', 429],
  ] as const) {
    it(`${kind} once, then the same key succeeds`, async () => {
      sb = await startSandbox({ seed: seed(kind) });
      const first = await redeem(sb, item('911000000001', { external_reference_number: 'R-1' }));
      expect(first.status).toBe(status);
      expect(await balance(sb, '911000000001')).toBe(1000);
      const second = await redeem(sb, item('911000000001', { external_reference_number: 'R-1' }));
      expect(second.status).toBe(200);
      expect(await balance(sb, '911000000001')).toBe(900);
    });
  }

  it('lost_response once: the retry with the same key returns the original success, debited once', async () => {
    sb = await startSandbox({ seed: seed('lost_response') });
    await expect(redeem(sb, item('911000000001', { external_reference_number: 'R-2' }))).rejects.toThrow();
    const retry = await redeem(sb, item('911000000001', { external_reference_number: 'R-2' }));
    expect(retry.status).toBe(200);
    expect(retry.json.response.responses.points.balance).toBe(900);
    expect(await balance(sb, '911000000001')).toBe(900);
  });

  it('applies to reverse, unlock, updateRedemption and workflow approval', async () => {
    const s: SandboxSeed = {
      customers: [
        {
          id: 1,
          mobile: '911000000001',
          points: 1000,
          promised: [{ bill_number: 'B-1', points: 5 }],
          fault: { kind: 'error_500', times: 4 },
        },
      ],
    };
    sb = await startSandbox({ seed: s });
    // redeem consumes the first fault occurrence
    expect((await redeem(sb, item('911000000001'))).status).toBe(500);
    const ok = await redeem(sb, item('911000000001'));
    expect(ok.status).toBe(500);
    const unlock = await call(
      sb,
      'POST',
      '/v2/points/unlockPromisedPoints?identifierName=mobile&identifierValue=911000000001&source=INSTORE',
      { eventName: 'TransactionAdd', billNumber: 'B-1' },
    );
    expect(unlock.status).toBe(500);
    expect(unlock.json.errors[0].code).toBe(500);
    const wf = await call(
      sb,
      'POST',
      '/api_gateway/v2/request-workflow/POINTS-REDEMPTION',
      {
        entityInfo: {},
        payload: {
          'IntouchAPITask-Payload': {
            hostname: 'h',
            path: '/v1.1/points/redeem',
            method: 'POST',
            queryParams: {},
            body: { root: { redeem: { points_redeemed: '1', customer: { mobile: '911000000001' } } } },
            headers: { Authorization: AUTH },
          },
        },
      },
      { authorization: AUTH, ...WF_HEADERS },
    );
    const decision = {
      requestId: wf.json.data.requestId,
      actionName: 'AdminTask',
      payload: { 'AdminTask-Payload': { actionDecision: 'approved' } },
    };
    const a1 = await call(sb, 'PUT', '/api_gateway/v2/request-workflow/POINTS-REDEMPTION', decision, {
      authorization: AUTH,
      ...WF_HEADERS,
    });
    expect(a1.status).toBe(500);
    expect(a1.json.errors[0].code).toBe(500);
    // the request stays in AdminTask and can be approved again once the fault is gone
    const a2 = await call(sb, 'PUT', '/api_gateway/v2/request-workflow/POINTS-REDEMPTION', decision, {
      authorization: AUTH,
      ...WF_HEADERS,
    });
    expect(a2.json.data.state).toBe('Approved');
    expect(await balance(sb, '911000000001')).toBe(999);
  });
});

describe('lost_response on reverse and updateRedemption', () => {
  it('writes, then drops the connection', async () => {
    sb = await startSandbox({
      seed: { customers: [{ id: 9, mobile: '911000000009', points: 50, fault: { kind: 'lost_response' } }] },
    });
    await expect(redeem(sb, item('911000000009', { points_redeemed: 20 }))).rejects.toThrow();
    expect(await balance(sb, '911000000009')).toBe(30);
    const redemptionId = (sb.snapshot() as any).redemptions[0].redemptionId as string;
    await expect(
      call(sb, 'POST', '/v2/points/reverse', {
        redemptionId,
        pointsToBeReversed: 5,
        identifier: { type: 'mobile', value: '911000000009' },
      }),
    ).rejects.toThrow();
    expect(await balance(sb, '911000000009')).toBe(35);
    await expect(
      call(sb, 'PUT', '/v2/points/updateRedemption', {
        redemptionId,
        purpose: 'lost',
        entity: { type: 'CUSTOMER', identifierType: 'mobile', identifierValue: '911000000009' },
      }),
    ).rejects.toThrow();
    expect((sb.snapshot() as any).redemptions[0]).toMatchObject({ purpose: 'lost', reversedMilli: 5000 });
  });
});

describe('default seed', () => {
  it('has the documented customers', () => {
    const byId = new Map(DEFAULT_SEED.customers.map((c) => [c.id, c]));
    expect(byId.get(101)).toMatchObject({ mobile: '919000000001', email: 'asha@example.com', points: 5000 });
    expect(byId.get(104)?.requires_validation).toBe(true);
    expect(DEFAULT_SEED.customers.filter((c) => c.fault).map((c) => c.mobile)).toEqual([
      '919000000500',
      '919000000599',
      '919000000521',
      '919000000429',
    ]);
  });
});
