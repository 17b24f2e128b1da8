/**
 * Customer identity as Capillary has it: GET /v2/customers/lookup/customerDetails, and one
 * comparison rule for identifiers (numeric ids without leading zeros, mobiles as digits with a
 * leading + and spaces ignored, emails case-insensitively) on every endpoint.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { normalizeIdentifier } from '../../src/sandbox/identity.js';
import { type SandboxHandle, startSandbox, validateSeed } from '../../src/sandbox/index.js';
import { balance, call, decideWorkflow, fileWorkflow, itemStatus, redeem } from '../fixtures/sandbox.js';

let sb: SandboxHandle;
beforeEach(async () => {
  sb = await startSandbox();
});
afterEach(async () => {
  await sb.close();
});

const details = (name: string, value: string, source = 'INSTORE') =>
  call(
    sb,
    'GET',
    `/v2/customers/lookup/customerDetails?source=${source}&identifierName=${encodeURIComponent(name)}&identifierValue=${encodeURIComponent(value)}`,
  );

describe('normalizeIdentifier', () => {
  it.each([
    ['id', '101', '101'],
    ['id', '0101', '101'],
    ['id', ' 00101 ', '101'],
    ['id', '0', '0'],
    ['id', '10a', null],
    ['id', '-101', null],
    ['mobile', '919000000001', '919000000001'],
    ['mobile', '+919000000001', '919000000001'],
    ['mobile', '+91 90000 00001', '919000000001'],
    ['mobile', ' 91 9000 000 001 ', '919000000001'],
    ['mobile', '++919000000001', null],
    ['mobile', '91-9000000001', null],
    ['email', ' Asha@Example.COM ', 'asha@example.com'],
    ['externalId', 'ext-101', 'ext-101'],
    ['cardnumber', ' 7000000101 ', '7000000101'],
    ['mobile', '   ', null],
  ] as const)('%s %j -> %j', (kind, value, want) => {
    expect(normalizeIdentifier(kind, value)).toBe(want);
  });
});

describe('GET /v2/customers/lookup/customerDetails', () => {
  it('answers the profile with the top-level id and every identifier, by each identifier name', async () => {
    const names: Array<[string, string]> = [
      ['mobile', '919000000001'],
      ['email', 'asha@example.com'],
      ['externalId', 'EXT-101'],
      ['cardnumber', '7000000101'],
      ['id', '101'],
    ];
    for (const [name, value] of names) {
      const r = await details(name, value);
      expect(r.status, `${name}=${value}`).toBe(200);
      expect(r.json).toEqual({
        id: 101,
        profiles: [
          {
            identifiers: [
              { type: 'mobile', value: '919000000001' },
              { type: 'email', value: 'asha@example.com' },
              { type: 'externalId', value: 'EXT-101' },
              { type: 'cardnumber', value: '7000000101' },
            ],
            source: 'INSTORE',
            accountId: '',
          },
        ],
        loyaltyInfo: { loyaltyType: 'loyalty' },
        warnings: [],
      });
    }
  });

  it('lists only the identifiers a customer has', async () => {
    const r = await details('mobile', '919000000002');
    expect(r.json.id).toBe(102);
    expect(r.json.profiles[0].identifiers).toEqual([
      { type: 'mobile', value: '919000000002' },
      { type: 'externalId', value: 'EXT-102' },
    ]);
  });

  it('finds the same customer through every spelling Capillary treats as equal', async () => {
    const spellings: Array<[string, string]> = [
      ['id', '0101'],
      ['id', '00101'],
      ['mobile', '+919000000001'],
      ['mobile', '+91 90000 00001'],
      ['email', 'ASHA@Example.com'],
      ['EMAIL', 'asha@example.com'],
    ];
    for (const [name, value] of spellings) {
      const r = await details(name, value);
      expect(r.status, `${name}=${value}`).toBe(200);
      expect(r.json.id, `${name}=${value}`).toBe(101);
    }
  });

  it('its id is the user_id a v1.1 redeem answers for that customer', async () => {
    const red = await redeem(sb, { points_redeemed: 1, customer: { email: 'asha@example.com' } });
    const userId = red.json.response.responses.points.user_id;
    const r = await details('externalId', 'EXT-101');
    expect(String(r.json.id)).toBe(userId);
  });

  it('8015 "Customer not found for given identifiers" for an unknown customer', async () => {
    for (const [name, value] of [
      ['mobile', '919999999999'],
      ['mobile', '9000000001'], // without its country code: another number
      ['id', '1010'],
      ['externalId', 'ext-101'], // external ids are exact
      ['cardnumber', '7000000102'],
    ]) {
      const r = await details(name, value);
      expect(r.status, `${name}=${value}`).toBe(404);
      expect(r.json).toEqual({
        errors: [{ status: false, code: 8015, message: 'Customer not found for given identifiers' }],
        warnings: [],
      });
    }
  });

  it('400 with 8015 when source, identifierName or identifierValue is missing, or the name is unsupported', async () => {
    const missing = await call(
      sb,
      'GET',
      '/v2/customers/lookup/customerDetails?identifierName=mobile&identifierValue=919000000001',
    );
    expect(missing.status).toBe(400);
    expect(missing.json.errors[0]).toEqual({
      status: false,
      code: 8015,
      message: 'Invalid identifier: source, identifierName and identifierValue are required',
    });
    const unsupported = await details('wechat', 'abc');
    expect(unsupported.status).toBe(400);
    expect(unsupported.json.errors[0].message).toBe('Invalid identifier: unsupported identifierName wechat');
  });

  it('needs authentication like every Capillary endpoint', async () => {
    const r = await call(
      sb,
      'GET',
      '/v2/customers/lookup/customerDetails?source=INSTORE&identifierName=id&identifierValue=101',
      undefined,
      {},
    );
    expect(r.status).toBe(401);
  });
});

describe('every endpoint compares identifiers the same way', () => {
  const ASHA_SPELLINGS = [
    { mobile: '+91 90000 00001' },
    { mobile: '+919000000001' },
    { id: '0101' },
    { id: 101 },
    { email: 'ASHA@EXAMPLE.COM' },
    { card_number: '7000000101' },
    { mobile: '+91 9000000001', id: '00101', email: 'Asha@Example.com' },
  ];

  it('redeem: every spelling debits customer 101', async () => {
    let expected = 5000;
    for (const customer of ASHA_SPELLINGS) {
      const r = await redeem(sb, { points_redeemed: 1, customer });
      expect(r.status, JSON.stringify(customer)).toBe(200);
      expect(r.json.response.responses.points.user_id).toBe('101');
      expected -= 1;
    }
    expect(await balance(sb, '919000000001')).toBe(expected);
  });

  it('redeem: spellings of two different customers are still 816', async () => {
    const r = await redeem(sb, { points_redeemed: 1, customer: { mobile: '+919000000001', id: '0102' } });
    expect(itemStatus(r).code).toBe(816);
  });

  it('isredeemable and validationcode accept the same spellings', async () => {
    for (const q of [
      'mobile=%2B91%2090000%2000001',
      'id=0101',
      'email=ASHA%40example.com',
      'card_number=7000000101',
    ]) {
      const r = await call(sb, 'GET', `/v1.1/points/isredeemable?${q}&points=10`);
      expect(r.status, q).toBe(200);
      expect(r.json.response.points.redeemable.mobile).toBe('919000000001');
    }
    const v = await call(sb, 'GET', '/v1.1/points/validationcode?id=000104&points=5');
    expect(v.status).toBe(200);
    expect(v.json.response.validation_code.code.user_id).toBe('104');
    // the code issued under one spelling is the customer's code under another
    const code = v.json.response.validation_code.code.sandbox_validation_code;
    const r = await redeem(sb, {
      points_redeemed: 5,
      validation_code: code,
      customer: { mobile: '+91 9000000004' },
    });
    expect(r.status).toBe(200);
  });

  it('balance, reverse, updateRedemption and unlock resolve the same spellings', async () => {
    const b = await call(
      sb,
      'GET',
      '/v2/customers/lookup/points/balance?source=INSTORE&identifierName=email&identifierValue=ASHA%40EXAMPLE.COM',
    );
    expect(b.json.data.customerId).toBe(101);

    const red = await redeem(sb, { points_redeemed: 10, customer: { mobile: '919000000001' } });
    const redemptionId = red.json.response.responses.points.redemption_id;
    const rev = await call(sb, 'POST', '/v2/points/reverse', {
      redemptionId,
      pointsToBeReversed: 4,
      identifier: { type: 'mobile', value: '+91 90000 00001' },
    });
    expect(rev.status).toBe(200);
    expect(rev.json.customerId).toBe(101);

    const upd = await call(sb, 'PUT', '/v2/points/updateRedemption', {
      redemptionId,
      purpose: 'spelling',
      entity: { type: 'CUSTOMER', identifierType: 'id', identifierValue: '000101' },
    });
    expect(upd.status).toBe(200);
    expect(upd.json.redemptionPurpose).toBe('spelling');
    const updCard = await call(sb, 'PUT', '/v2/points/updateRedemption', {
      redemptionId,
      purpose: 'card',
      entity: { type: 'CUSTOMER', identifierType: 'cardnumber', identifierValue: '7000000101' },
    });
    expect(updCard.status).toBe(200);

    const unlock = await call(
      sb,
      'POST',
      '/v2/points/unlockPromisedPoints?source=INSTORE&identifierName=mobile&identifierValue=%2B919000000003',
      { eventName: 'TransactionAdd', billNumber: 'B-1001' },
    );
    expect(unlock.status).toBe(200);
    expect(await balance(sb, '919000000003')).toBe(1120);
  });

  it('workflow approval runs the embedded redeem with the same rule', async () => {
    const created = await fileWorkflow(sb, { points_redeemed: 7, customer: { mobile: '+91 90000 00001' } });
    const decided = await decideWorkflow(sb, created.json.data.requestId, 'approved');
    expect(decided.json.data.state).toBe('Approved');
    expect(await balance(sb, '919000000001')).toBe(4993);
  });
});

describe('card numbers in the seed and the state file', () => {
  it('a seed may not give two customers the same identifier under two spellings', () => {
    const seed = {
      customers: [
        { id: 1, mobile: '911000000001', email: 'A@x.example', card_number: 'C-1', points: 1 },
        { id: 2, mobile: '911000000002', email: 'a@X.example', card_number: 'C-1', points: 1 },
      ],
    };
    expect(() => validateSeed(seed)).toThrow(/customers\[1\]\.email: duplicate email/);
    expect(() => validateSeed(seed)).toThrow(/customers\[1\]\.card_number: duplicate card_number/);
  });

  it('a state file written before card numbers existed still loads', async () => {
    await sb.close();
    const dir = mkdtempSync(join(tmpdir(), 'cap-sandbox-identity-'));
    try {
      const statePath = join(dir, 'state.json');
      sb = await startSandbox({ statePath });
      await sb.close();
      const state = JSON.parse(readFileSync(statePath, 'utf8'));
      for (const c of state.customers) delete c.cardNumber;
      writeFileSync(statePath, JSON.stringify(state));
      sb = await startSandbox({ statePath });
      expect((await redeem(sb, { points_redeemed: 1, customer: { id: '0101' } })).status).toBe(200);
      expect((await details('cardnumber', '7000000101')).status).toBe(404);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
