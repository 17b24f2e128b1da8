import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type SandboxHandle, startSandbox, validateSeed } from '../../src/sandbox/index.js';
import { balance, call, redeem } from '../fixtures/sandbox.js';

// What the unlock and update pages document, and what the sandbox chose where they are silent
// (docs/sandbox.md): every unlock identifier, promotion entries, typed fields, an optional entity.

let sb: SandboxHandle;
beforeEach(async () => {
  sb = await startSandbox();
});
afterEach(async () => {
  await sb.close();
});

const unlock = (query: string, body: unknown) =>
  call(sb, 'POST', `/v2/points/unlockPromisedPoints?source=INSTORE&${query}`, body);
const BILL_1001 = { eventName: 'TransactionAdd', billNumber: 'B-1001' };
const BILL_2001 = { eventName: 'TransactionAdd', billNumber: 'B-2001' };

describe('unlockPromisedPoints: every identifierName the page lists', () => {
  it.each([
    ['mobile', '919000000003'],
    ['id', '103'],
    ['primaryUserId', '103'],
  ])('%s names the customer (customer 103 as %s)', async (name, value) => {
    const r = await unlock(`identifierName=${name}&identifierValue=${value}`, BILL_1001);
    expect(r.status).toBe(200);
    expect(r.json.pointsUnlocked).toEqual([
      { billNumber: 'B-1001', itemCode: 'SKU-1', pointsUnlocked: 120, programId: 1 },
    ]);
    expect(await balance(sb, '919000000003')).toBe(1120);
  });

  it('cuid names the customer; names are compared case-insensitively', async () => {
    const r = await unlock('identifierName=CUID&identifierValue=CUID-105', BILL_2001);
    expect(r.status).toBe(200);
    expect(await balance(sb, '919000000005')).toBe(580);
    // another customer's CUID is nobody's bill
    const other = await unlock('identifierName=cuid&identifierValue=CUID-999', BILL_2001);
    expect(other.json.errors[0].code).toBe(8015);
  });

  it('externalId names the customer', async () => {
    // customer 102 has external id EXT-102 and no promised points: found, but no bill
    const r = await unlock('identifierName=externalId&identifierValue=EXT-102', BILL_1001);
    expect(r.json.errors[0].code).toBe(82323277);
    const nobody = await unlock('identifierName=externalId&identifierValue=EXT-404', BILL_1001);
    expect(nobody.json.errors[0].code).toBe(8015);
  });

  it('names the page does not list are refused (8015), nothing unlocked', async () => {
    for (const [name, value] of [
      ['email', 'asha@example.com'],
      ['cardnumber', '7000000101'],
      ['userId', '103'],
    ]) {
      const r = await unlock(`identifierName=${name}&identifierValue=${value}`, BILL_1001);
      expect(r.status).toBe(400);
      expect(r.json.errors[0]).toMatchObject({ code: 8015 });
      expect(r.json.errors[0].message).toContain(`unsupported identifierName ${name}`);
    }
    expect(await balance(sb, '919000000003')).toBe(1000);
  });

  it("USERGROUP2: the group's promised points join its pool, once; named by id, externalId or primaryUserId", async () => {
    const pool = () =>
      (sb.snapshot() as any).groups.find((g: { id: number }) => g.id === 9001).pointsMilli / 1000;
    const groupBill = { eventName: 'GroupTransactionAdd', billNumber: 'G-3001', eventLogId: 9101 };
    // the event must match: the group's entry is a GroupTransactionAdd
    const wrongEvent = await unlock('type=USERGROUP2&identifierName=id&identifierValue=9001', {
      ...groupBill,
      eventName: 'TransactionAdd',
    });
    expect(wrongEvent.json.errors[0].code).toBe(82323282);
    // a member's own bills are not the group's, nor the group's a member's
    const asMember = await unlock('identifierName=mobile&identifierValue=919000000201', groupBill);
    expect(asMember.json.errors[0].code).toBe(82323277);
    const r = await unlock('type=USERGROUP2&identifierName=primaryUserId&identifierValue=201', groupBill);
    expect(r.status).toBe(200);
    expect(r.json.pointsUnlocked).toEqual([{ billNumber: 'G-3001', pointsUnlocked: 200, programId: 1 }]);
    expect(pool()).toBe(3200);
    expect(await balance(sb, '919000000201')).toBe(100);
    for (const [name, value] of [
      ['id', '9001'],
      ['externalId', 'GRP-9001'],
      ['primaryUserId', '201'],
    ]) {
      const again = await unlock(
        `type=USERGROUP2&identifierName=${name}&identifierValue=${value}`,
        groupBill,
      );
      expect(again.json.errors[0].code).toBe(82323282);
    }
    expect(pool()).toBe(3200);
    expect(sb.stats().unlocks).toEqual({
      count: 1,
      points: 200,
      byCustomer: {},
      byGroup: { '9001': { count: 1, points: 200 } },
    });
    // the pool pays a group redemption with them
    const red = await redeem(
      sb,
      { points_redeemed: 3200, customer: { mobile: '919000000202' } },
      'format=json&user_group2_id=9001',
    );
    expect(red.json.response.responses.points.balance).toBe(0);
  });

  it('USERGROUP2: primaryUserId names the group of that primary member, and no other member', async () => {
    const group = (name: string, value: string) =>
      unlock(`type=USERGROUP2&identifierName=${name}&identifierValue=${value}`, {
        eventName: 'GroupTransactionAdd',
        billNumber: 'B-1',
      });
    // 201 is group 9001's primary member: a group, which holds no promised bill
    expect((await group('primaryUserId', '201')).json.errors[0].code).toBe(82323277);
    // 202 is a member but not the primary one; 101 is in no group; cuid never names a group
    expect((await group('primaryUserId', '202')).json.errors[0].code).toBe(1645);
    expect((await group('primaryUserId', '101')).json.errors[0].code).toBe(1645);
    expect((await group('cuid', 'CUID-105')).json.errors[0].code).toBe(1645);
  });
});

describe('unlockPromisedPoints: promotion entries', () => {
  it("a promotion's points come back with its identifier, id and name, and no bill number", async () => {
    const r = await unlock('identifierName=mobile&identifierValue=919000000005', BILL_2001);
    expect(r.status).toBe(200);
    expect(r.json.pointsUnlocked).toEqual([
      { billNumber: 'B-2001', itemCode: 'SKU-2', pointsUnlocked: 50, programId: 1 },
      {
        pointsUnlocked: 30,
        programId: 1,
        promotionIdentifier: 'PROMO-12',
        promotionId: 12,
        promotionName: 'Double points weekend',
      },
    ]);
    expect(await balance(sb, '919000000005')).toBe(580);
    const again = await unlock('identifierName=mobile&identifierValue=919000000005', BILL_2001);
    expect(again.json.errors[0].code).toBe(82323282);
    expect(await balance(sb, '919000000005')).toBe(580);
  });

  it('the balance lists a locked promotion entry with its fields; an item filter leaves it locked', async () => {
    const r = await unlock('identifierName=mobile&identifierValue=919000000005', {
      ...BILL_2001,
      itemCodes: ['SKU-2'],
    });
    expect(r.json.pointsUnlocked).toEqual([
      { billNumber: 'B-2001', itemCode: 'SKU-2', pointsUnlocked: 50, programId: 1 },
    ]);
    const b = await call(
      sb,
      'GET',
      '/v2/customers/lookup/points/balance?source=INSTORE&identifierName=mobile&identifierValue=919000000005',
    );
    expect(b.json.data.promisedPoints).toBe(30);
    expect(b.json.data.promised).toEqual([
      expect.objectContaining({ points: 30, promotionId: 12, promotionIdentifier: 'PROMO-12' }),
    ]);
  });
});

describe('unlockPromisedPoints: typed fields', () => {
  const q = 'identifierName=mobile&identifierValue=919000000003';
  it.each([
    ['billDate', 20220212],
    ['billDate', '12/02/2022'],
    ['billDate', '2022-02-30'],
    ['sourceStoreId', 'store-1'],
    ['sourceStoreId', 11.5],
    ['sourceStoreId', true],
    ['sourceTillId', '32x'],
    ['sourceTilId', { id: 1 }],
    ['sourceProgramId', [1]],
    ['eventLogId', 'abc'],
    ['lineItemIds', 11],
    ['lineItemIds', ['x']],
    ['itemCodes', 'SKU-1'],
    ['sourceStoreId', '9223372036854775808'],
  ])('%s = %j is refused (400, code 400) and nothing is unlocked', async (field, value) => {
    const r = await unlock(q, { ...BILL_1001, [field]: value });
    expect(r.status).toBe(400);
    expect(r.json.errors[0]).toMatchObject({ status: false, code: 400 });
    expect(r.json.errors[0].message).toMatch(new RegExp(`^Invalid request: ${field} must be `));
    expect(await balance(sb, '919000000003')).toBe(1000);
  });

  it('the type check comes first: before the empty identifier (82323284)', async () => {
    const r = await unlock('identifierName=mobile', { ...BILL_1001, sourceStoreId: 'x' });
    expect(r.json.errors[0].code).toBe(400);
  });

  it("the page's own types pass: numbers, digit strings, YYYY-MM-DD and ISO 8601 dates", async () => {
    const raw =
      '{"eventName":"TransactionAdd","billNumber":"B-1001","eventLogId":[9001],"lineItemIds":[11],' +
      '"itemCodes":["SKU-1"],"billDate":"2022-02-12","sourceStoreId":1122,"sourceTillId":323,' +
      '"sourceTilId":"323","sourceProgramId":1}';
    const r = await unlock(q, raw);
    expect(r.status).toBe(200);
    expect(r.json.pointsUnlocked[0].pointsUnlocked).toBe(120);
    const iso = await unlock('identifierName=mobile&identifierValue=919000000005', {
      ...BILL_2001,
      billDate: '2022-02-12T10:15:00Z',
      eventLogId: '009002',
    });
    expect(iso.status).toBe(200);
  });
});

describe('updateRedemption: entity is optional', () => {
  it('without entity the redemption identifier alone decides', async () => {
    const red = await redeem(sb, {
      points_redeemed: 5,
      customer: { mobile: '919000000001' },
      external_reference_number: 'NO-ENTITY',
    });
    const id = red.json.response.responses.points.redemption_id;
    const byId = await call(sb, 'PUT', '/v2/points/updateRedemption', { redemptionId: id, purpose: 'p1' });
    expect(byId.status).toBe(200);
    expect(byId.json).toMatchObject({ redemptionId: id, redemptionPurpose: 'p1', customerId: 101 });
    const byKey = await call(sb, 'PUT', '/v2/points/updateRedemption', {
      externalReferenceNumber: 'NO-ENTITY',
      billNumber: 'B-7',
      entity: null,
    });
    expect(byKey.status).toBe(200);
    expect(byKey.json).toMatchObject({ billNumber: 'B-7', redemptionPurpose: 'p1' });
    const unknown = await call(sb, 'PUT', '/v2/points/updateRedemption', {
      redemptionId: 'zzzzzz',
      purpose: 'p',
    });
    expect(unknown.json.errors[0].code).toBe(750);
  });

  it("an entity that is given still has to be the redemption's owner", async () => {
    const red = await redeem(sb, { points_redeemed: 5, customer: { mobile: '919000000001' } });
    const id = red.json.response.responses.points.redemption_id;
    const r = await call(sb, 'PUT', '/v2/points/updateRedemption', {
      redemptionId: id,
      purpose: 'p',
      entity: { type: 'CUSTOMER', identifierType: 'cuid', identifierValue: 'CUID-105' },
    });
    expect(r.json.errors[0]).toMatchObject({ code: 750 });
    const card = await call(sb, 'PUT', '/v2/points/updateRedemption', {
      redemptionId: id,
      purpose: 'p',
      entity: { type: 'CUSTOMER', identifierType: 'cardnumber', identifierValue: '7000000101' },
    });
    expect(card.status).toBe(200);
  });
});

describe('seed and state file', () => {
  it('a CUID is unique like every identifier; a promotion entry needs its id or identifier', () => {
    const customer = (id: number, extra: object) => ({ id, mobile: `91900000${id}`, points: 1, ...extra });
    expect(() =>
      validateSeed({ customers: [customer(1001, { cuid: 'C-1' }), customer(1002, { cuid: ' C-1 ' })] }),
    ).toThrow(/customers\[1\]\.cuid: duplicate cuid/);
    const promised = (extra: object) => ({
      customers: [customer(1001, { promised: [{ bill_number: 'B', points: 1, ...extra }] })],
    });
    expect(() => validateSeed(promised({ promotion_name: 'P' }))).toThrow(
      /promised\[0\]\.promotion_name: a promotion needs promotion_id or promotion_identifier/,
    );
    expect(() => validateSeed(promised({ promotion_name: 'P', promotion_id: 3 }))).not.toThrow();
    expect(() => validateSeed(promised({ promotion_identifier: 'X' }))).not.toThrow();
  });

  it('a state file written before CUIDs, promotion entries and group bills existed still loads', async () => {
    await sb.close();
    const dir = mkdtempSync(join(tmpdir(), 'cap-sandbox-fidelity-'));
    try {
      const statePath = join(dir, 'state.json');
      sb = await startSandbox({ statePath });
      await sb.close();
      const state = JSON.parse(readFileSync(statePath, 'utf8'));
      for (const g of state.groups) delete g.promised;
      for (const c of state.customers) {
        delete c.cuid;
        for (const p of c.promised) {
          delete p.promotionId;
          delete p.promotionIdentifier;
          delete p.promotionName;
        }
      }
      writeFileSync(statePath, JSON.stringify(state));
      sb = await startSandbox({ statePath });
      const r = await unlock('identifierName=mobile&identifierValue=919000000005', BILL_2001);
      expect(r.status).toBe(200);
      // without its promotion fields, the entry reads as a bill's own entry
      expect(r.json.pointsUnlocked[1]).toEqual({ billNumber: 'B-2001', pointsUnlocked: 30, programId: 1 });
      expect(
        (await unlock('identifierName=cuid&identifierValue=CUID-105', BILL_2001)).json.errors[0].code,
      ).toBe(8015);
      const group = await unlock('type=USERGROUP2&identifierName=id&identifierValue=9001', {
        eventName: 'GroupTransactionAdd',
        billNumber: 'G-3001',
      });
      expect(group.json.errors[0].code).toBe(82323277);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
