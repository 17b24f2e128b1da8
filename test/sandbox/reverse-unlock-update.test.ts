import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type SandboxHandle, startSandbox } from '../../src/sandbox/index.js';
import { balance, call, redeem } from '../fixtures/sandbox.js';

let sb: SandboxHandle;
beforeEach(async () => {
  sb = await startSandbox();
});
afterEach(async () => {
  await sb.close();
});

async function redeemId(points: number | string, ern?: string): Promise<string> {
  const r = await redeem(sb, {
    points_redeemed: points,
    customer: { mobile: '919000000001' },
    transaction_number: 'T-1',
    ...(ern ? { external_reference_number: ern } : {}),
  });
  expect(r.status).toBe(200);
  return r.json.response.responses.points.redemption_id;
}
const ident = { type: 'mobile', value: '919000000001' };

describe('reverse', () => {
  it('partial reversals add up to at most the redeemed amount; then 3802', async () => {
    const id = await redeemId(100);
    expect(await balance(sb, '919000000001')).toBe(4900);
    const a = await call(sb, 'POST', '/v2/points/reverse', {
      redemptionId: id,
      pointsToBeReversed: 30.5,
      identifier: ident,
    });
    expect(a.status).toBe(200);
    expect(a.json).toMatchObject({
      redemptionId: id,
      pointsToBeReversed: 30.5,
      pointsReversed: 30.5,
      orgId: 50001,
      customerId: 101,
      identifier: ident,
      balance: 4930.5,
      warnings: [],
      errors: [],
    });
    expect(a.json.reversalId).toMatch(/^[a-z0-9]{6}$/);
    const over = await call(sb, 'POST', '/v2/points/reverse', {
      redemptionId: id,
      pointsToBeReversed: 70,
      identifier: ident,
    });
    expect(over.status).toBe(400);
    expect(over.json.errors[0]).toMatchObject({ status: false, code: 3801 });
    expect(await balance(sb, '919000000001')).toBe(4930.5);
    // the rest (no pointsToBeReversed = everything still reversible)
    const rest = await call(sb, 'POST', '/v2/points/reverse', { redemptionId: id, identifier: ident });
    expect(rest.json.pointsReversed).toBe(69.5);
    expect(rest.json.balance).toBe(5000);
    const again = await call(sb, 'POST', '/v2/points/reverse', { redemptionId: id, identifier: ident });
    expect(again.status).toBe(400);
    expect(again.json.errors[0].code).toBe(3802);
    expect(await balance(sb, '919000000001')).toBe(5000);
  });

  it('a second full reversal is 3802', async () => {
    const id = await redeemId(10);
    const a = await call(sb, 'POST', '/v2/points/reverse', {
      redemptionId: id,
      pointsToBeReversed: '10',
      identifier: ident,
    });
    expect(a.status).toBe(200);
    const b = await call(sb, 'POST', '/v2/points/reverse', {
      redemptionId: id,
      pointsToBeReversed: '10',
      identifier: ident,
    });
    expect(b.json.errors[0].code).toBe(3802);
    expect(await balance(sb, '919000000001')).toBe(5000);
  });

  it('errors: 902 unknown redemption, 904 wrong customer, 901 bad points, 878 precision', async () => {
    const id = await redeemId(10);
    const e902 = await call(sb, 'POST', '/v2/points/reverse', { redemptionId: 'nope00', identifier: ident });
    expect(e902.json.errors[0].code).toBe(902);
    const e904 = await call(sb, 'POST', '/v2/points/reverse', {
      redemptionId: id,
      identifier: { type: 'mobile', value: '919000000002' },
    });
    expect(e904.json.errors[0].code).toBe(904);
    const e901 = await call(sb, 'POST', '/v2/points/reverse', {
      redemptionId: id,
      pointsToBeReversed: -1,
      identifier: ident,
    });
    expect(e901.json.errors[0].code).toBe(901);
    const e878 = await call(sb, 'POST', '/v2/points/reverse', {
      redemptionId: id,
      pointsToBeReversed: 1.0001,
      identifier: ident,
    });
    expect(e878.json.errors[0].code).toBe(878);
    const byExt = await call(sb, 'POST', '/v2/points/reverse', {
      redemptionId: id,
      identifier: { type: 'externalId', value: 'EXT-101' },
    });
    expect(byExt.status).toBe(200);
  });
});

describe('unlockPromisedPoints', () => {
  const q = '?identifierName=mobile&identifierValue=919000000003&source=INSTORE';
  const body = { eventName: 'TransactionAdd', billNumber: 'B-1001', eventLogId: 9001, sourceTilId: 323 };

  it('unlocks once (balance +120), then 82323282', async () => {
    const before = await call(
      sb,
      'GET',
      '/v2/customers/lookup/points/balance?source=INSTORE&identifierName=mobile&identifierValue=919000000003',
    );
    expect(before.json.data).toMatchObject({ customerId: 103, loyaltyPoints: 1000, promisedPoints: 120 });
    const r = await call(sb, 'POST', `/v2/points/unlockPromisedPoints${q}`, body);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      pointsUnlocked: [{ billNumber: 'B-1001', itemCode: 'SKU-1', pointsUnlocked: 120, programId: 1 }],
      errors: [],
      warnings: [],
    });
    expect(await balance(sb, '919000000003')).toBe(1120);
    const again = await call(sb, 'POST', `/v2/points/unlockPromisedPoints${q}`, body);
    expect(again.status).toBe(400);
    expect(again.json.errors[0]).toMatchObject({ status: false, code: 82323282 });
    expect(await balance(sb, '919000000003')).toBe(1120);
  });

  it('filters and error codes', async () => {
    const post = (query: string, b: unknown) =>
      call(sb, 'POST', `/v2/points/unlockPromisedPoints${query}`, b);
    expect((await post('?identifierName=mobile&source=INSTORE', body)).json.errors[0].code).toBe(82323284);
    expect((await post(`${q}&type=USERGROUP2`, body)).json.errors[0].code).toBe(1645);
    expect((await post(`${q}&type=STORE`, body)).json.errors[0].code).toBe(82323276);
    expect((await post(q, { ...body, billNumber: undefined })).json.errors[0].code).toBe(82323271);
    expect((await post(q, { ...body, eventName: 'Nope' })).json.errors[0].code).toBe(82323272);
    expect((await post(q, { ...body, billNumber: 'B-9' })).json.errors[0].code).toBe(82323277);
    expect((await post(q, { ...body, eventLogId: [1234] })).json.errors[0].code).toBe(3918);
    expect((await post(q, { ...body, itemCodes: ['OTHER'] })).json.errors[0].code).toBe(82323282);
    expect((await post(q, { ...body, eventName: 'GenericEvent' })).json.errors[0].code).toBe(82323282);
    expect(
      (await post('?identifierName=mobile&identifierValue=919999&source=INSTORE', body)).json.errors[0].code,
    ).toBe(8015);
    expect(await balance(sb, '919000000003')).toBe(1000);
    // sourceTillId spelling and filters that match also work
    const ok = await post(q, {
      ...body,
      sourceTillId: 1,
      itemCodes: ['SKU-1'],
      lineItemIds: [11],
      eventLogId: '9001',
    });
    expect(ok.status).toBe(200);
    expect(await balance(sb, '919000000003')).toBe(1120);
    // unlocked points are redeemable
    const r = await redeem(sb, { points_redeemed: 1120, customer: { mobile: '919000000003' } });
    expect(r.json.response.responses.points.balance).toBe(0);
  });
});

describe('updateRedemption', () => {
  it('keeps a 19-digit billId exact in the response', async () => {
    const id = await redeemId(100);
    const raw = `{"redemptionId":"${id}","billNumber":"number7939623972","billId":9223372036854775807,"purpose":"Testing","entity":{"type":"CUSTOMER","identifierType":"mobile","identifierValue":"919000000001"}}`;
    const r = await call(sb, 'PUT', '/v2/points/updateRedemption', raw);
    expect(r.status).toBe(200);
    expect(r.text).toContain('"billId":9223372036854775807,');
    expect(r.json).toMatchObject({
      programId: 1,
      pointsRedeemed: 100,
      billNumber: 'number7939623972',
      redemptionId: id,
      customerId: 101,
      redemptionPurpose: 'Testing',
      tillId: expect.any(Number),
      pointDeductionList: [],
      warnings: [],
    });
    expect(r.json.redemptionDate).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const asString = await call(sb, 'PUT', '/v2/points/updateRedemption', {
      redemptionId: id,
      billId: '1234567890123456789',
      entity: { type: 'CUSTOMER', identifierType: 'mobile', identifierValue: '919000000001' },
    });
    expect(asString.text).toContain('"billId":1234567890123456789,');
    expect(asString.json.redemptionPurpose).toBe('Testing');
  });

  it('finds the redemption by externalReferenceNumber', async () => {
    await redeemId(5, 'ERN-77');
    const r = await call(sb, 'PUT', '/v2/points/updateRedemption', {
      externalReferenceNumber: 'ERN-77',
      purpose: 'p',
      entity: { type: 'CUSTOMER', identifierType: 'id', identifierValue: '101' },
    });
    expect(r.status).toBe(200);
    expect(r.json.externalReferenceNumber).toBe('ERN-77');
    expect(r.json.billId).toBe(-1);
  });

  it('error codes 749, 748, 1219, 1212, 8015, 750', async () => {
    const id = await redeemId(5);
    const entity = { type: 'CUSTOMER', identifierType: 'mobile', identifierValue: '919000000001' };
    const put = (b: unknown) => call(sb, 'PUT', '/v2/points/updateRedemption', b);
    expect((await put({ purpose: 'x', entity })).json.errors[0].code).toBe(749);
    expect(
      (await put({ redemptionId: id, externalReferenceNumber: 'E', purpose: 'x', entity })).json.errors[0]
        .code,
    ).toBe(749);
    expect((await put({ redemptionId: id, entity })).json.errors[0].code).toBe(748);
    expect((await put({ redemptionId: id, purpose: 'x', entity: 'CUSTOMER' })).json.errors[0].code).toBe(
      1219,
    );
    expect(
      (await put({ redemptionId: id, purpose: 'x', entity: { type: 'CUSTOMER' } })).json.errors[0].code,
    ).toBe(1219);
    expect(
      (await put({ redemptionId: id, purpose: 'x', entity: { ...entity, type: 'STORE' } })).json.errors[0]
        .code,
    ).toBe(1212);
    expect(
      (await put({ redemptionId: id, purpose: 'x', entity: { ...entity, identifierValue: '91000' } })).json
        .errors[0].code,
    ).toBe(8015);
    const long = await put({ redemptionId: id, purpose: 'x'.repeat(256), entity });
    expect(long.status).toBe(400);
    expect(long.json.errors[0]).toMatchObject({ status: false, code: 750 });
    expect(long.json.errors[0].message).toMatch(/^Redemption update failed : /);
    expect(
      (await put({ redemptionId: id, billId: '12345678901234567890', entity })).json.errors[0].code,
    ).toBe(750);
    expect((await put({ redemptionId: id, billId: 0, entity })).json.errors[0].code).toBe(750);
    expect((await put({ redemptionId: 'zzzzzz', purpose: 'x', entity })).json.errors[0].code).toBe(750);
    const other = { type: 'CUSTOMER', identifierType: 'mobile', identifierValue: '919000000002' };
    expect((await put({ redemptionId: id, purpose: 'x', entity: other })).json.errors[0].code).toBe(750);
    expect((await put({ redemptionId: id, purpose: 'x'.repeat(255), entity })).status).toBe(200);
  });
});
