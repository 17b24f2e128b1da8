/**
 * Groups with pooled points (Capillary's user group 2): `user_group2_*` on redeem and
 * isredeemable address a group; its members redeem from the pool; 1632, 828 and 3316 as the
 * redeem page documents them. Every case checks what the sandbox committed (its own count).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type SandboxHandle, startSandbox, validateSeed } from '../../src/sandbox/index.js';
import { balance, call, decideWorkflow, fileWorkflow, itemStatus, redeem } from '../fixtures/sandbox.js';

let sb: SandboxHandle;
beforeEach(async () => {
  sb = await startSandbox();
});
afterEach(async () => {
  await sb.close();
});

const RAVI = { mobile: '919000000201' }; // primary member of 9001 (pool 3000)
const MEERA = { mobile: '919000000202' }; // member of 9001
const pool = (id: number) =>
  ((sb.snapshot() as any).groups as any[]).find((g) => g.id === id).pointsMilli / 1000;
const committed = () => sb.stats().redemptions;

describe('group redemption from the pool', () => {
  it('a member redeems from the group pool; the answer shows the pool balance; her own balance is untouched', async () => {
    const r = await redeem(
      sb,
      { points_redeemed: 200, customer: MEERA, external_reference_number: 'G-1' },
      'user_group2_id=9001',
    );
    expect(r.status).toBe(200);
    const p = r.json.response.responses.points;
    expect(p.user_id).toBe('202');
    expect(p.points_redeemed).toBe('200');
    expect(p.balance).toBe(2800);
    expect(pool(9001)).toBe(2800);
    expect(await balance(sb, MEERA.mobile)).toBe(50); // 200 > her own 50: the pool paid
    expect(committed().byGroup).toEqual({ '9001': { count: 1, points: 200 } });
    expect(committed().byCustomer).toEqual({ '202': { count: 1, points: 200 } });
  });

  it('every documented way to name the group addresses the same pool', async () => {
    const queries = [
      'user_group2_id=9001',
      'user_group2_id=009001',
      'user_group2_external_id=GRP-9001',
      'user_group2_primary_user_id=201',
      'user_group2_primary_user_id=0201',
      'user_group2_primary_user_source=INSTORE&user_group2_primary_user_identifier_type=mobile&user_group2_primary_user_identifier_value=%2B91%209000000201',
      'user_group2_primary_user_identifier_type=email&user_group2_primary_user_identifier_value=RAVI%40example.com',
      'user_group2_primary_user_identifier_type=id&user_group2_primary_user_identifier_value=201',
      'user_group2_id=9001&user_group2_external_id=GRP-9001&user_group2_primary_user_id=201',
    ];
    for (const q of queries) {
      const r = await redeem(sb, { points_redeemed: 1, customer: RAVI }, q);
      expect(r.status, q).toBe(200);
    }
    expect(pool(9001)).toBe(3000 - queries.length);
    expect(committed().byGroup).toEqual({ '9001': { count: queries.length, points: queries.length } });
  });

  it('803 above the pool, whatever the member holds', async () => {
    const r = await redeem(sb, { points_redeemed: 3000.001, customer: RAVI }, 'user_group2_id=9001');
    expect(itemStatus(r).code).toBe(803);
    expect(committed().count).toBe(0);
  });

  it('a repeated key spends once from the pool', async () => {
    const item = { points_redeemed: 10, customer: RAVI, external_reference_number: 'G-2' };
    const a = await redeem(sb, item, 'user_group2_id=9001');
    const b = await redeem(sb, item, 'user_group2_id=9001');
    expect(b.text).toBe(a.text);
    expect(pool(9001)).toBe(2990);
    expect(committed().byExternalReference).toEqual({ 'G-2': { count: 1, points: 10 } });
  });
});

describe('group error codes', () => {
  const expectRefused = async (
    item: Record<string, unknown>,
    query: string,
    code: number,
    message: string,
  ) => {
    const r = await redeem(sb, { points_redeemed: 1, ...item }, query);
    expect(r.status, query).toBe(400);
    expect(itemStatus(r), query).toEqual({ success: 'false', code, message });
  };

  it('1632 when the parameters name no group, disagree, or the customer is not a member', async () => {
    const invalid = 'Invalid or non-existent groupId';
    for (const q of [
      'user_group2_id=77',
      'user_group2_external_id=GRP-77',
      'user_group2_external_id=grp-9001', // external ids are exact
      'user_group2_primary_user_id=202', // a member, not the primary one
      'user_group2_primary_user_identifier_type=mobile', // no value
      'user_group2_primary_user_identifier_value=919000000201', // no type
      'user_group2_primary_user_identifier_type=cardExternalId&user_group2_primary_user_identifier_value=X',
      'user_group2_primary_user_source=INSTORE', // names no group
      'user_group2_id=9001&user_group2_external_id=GRP-9002', // two groups
    ]) {
      await expectRefused({ customer: RAVI }, q, 1632, invalid);
    }
    await expectRefused({ customer: { mobile: '919000000001' } }, 'user_group2_id=9001', 1632, invalid);
    expect(committed().count).toBe(0);
    expect(pool(9001)).toBe(3000);
  });

  it('828 for a group without points redemption configured', async () => {
    await expectRefused(
      { customer: { mobile: '919000000203' } },
      'user_group2_id=9002',
      828,
      'Points redemption not configured for the group',
    );
    expect(pool(9002)).toBe(500);
    expect(committed().count).toBe(0);
  });

  it('3316 for a member of a group-programs-redemption group redeeming without group parameters', async () => {
    await expectRefused(
      { customer: { mobile: '919000000204' } },
      '',
      3316,
      'group redemption action executed from non group redemption payload',
    );
    expect(await balance(sb, '919000000204')).toBe(100);
    // as the group it works, from the pool
    const r = await redeem(
      sb,
      { points_redeemed: 5, customer: { mobile: '919000000204' } },
      'user_group2_id=9003',
    );
    expect(r.status).toBe(200);
    expect(pool(9003)).toBe(795);
    // members of other groups still redeem on their own
    expect((await redeem(sb, { points_redeemed: 5, customer: RAVI })).status).toBe(200);
    expect(await balance(sb, RAVI.mobile)).toBe(95);
    expect(committed().count).toBe(2);
  });
});

describe('isredeemable with groups', () => {
  const check = (q: string) => call(sb, 'GET', `/v1.1/points/isredeemable?${q}`);

  it('checks the pool, and gives the same group codes as redeem', async () => {
    const ok = await check('mobile=919000000202&points=3000&user_group2_id=9001');
    expect(ok.status).toBe(200);
    expect(ok.json.response.points.redeemable.is_redeemable).toBe('true');
    const over = await check('mobile=919000000202&points=3001&user_group2_id=9001');
    expect(over.json.response.points.redeemable.item_status.code).toBe(818);
    for (const [q, code] of [
      ['mobile=919000000202&points=1&user_group2_id=77', 1632],
      ['mobile=919000000001&points=1&user_group2_id=9001', 1632],
      ['mobile=919000000203&points=1&user_group2_id=9002', 828],
      ['mobile=919000000204&points=1', 3316],
    ] as const) {
      const r = await check(q);
      expect(r.status, q).toBe(400);
      expect(r.json.response.points.redeemable.item_status.code, q).toBe(code);
    }
    expect(committed().count).toBe(0);
  });
});

describe('after a group redemption', () => {
  const groupRedeem = async (points: number) => {
    const r = await redeem(sb, { points_redeemed: points, customer: MEERA }, 'user_group2_id=9001');
    return r.json.response.responses.points.redemption_id as string;
  };

  it('reverse returns the points to the pool', async () => {
    const redemptionId = await groupRedeem(300);
    const r = await call(sb, 'POST', '/v2/points/reverse', {
      redemptionId,
      pointsToBeReversed: 100,
      identifier: { type: 'mobile', value: MEERA.mobile },
    });
    expect(r.status).toBe(200);
    expect(r.json.balance).toBe(2800);
    expect(pool(9001)).toBe(2800);
    expect(await balance(sb, MEERA.mobile)).toBe(50);
    expect(sb.stats().reversals.byGroup).toEqual({ '9001': { count: 1, points: 100 } });
  });

  it('updateRedemption names the group as a USERGROUP2 entity (id or externalId), or the member as a customer', async () => {
    const redemptionId = await groupRedeem(10);
    const update = (entity: Record<string, unknown>) =>
      call(sb, 'PUT', '/v2/points/updateRedemption', { redemptionId, purpose: 'family', entity });
    const byId = await update({ type: 'USERGROUP2', identifierType: 'id', identifierValue: '9001' });
    expect(byId.status).toBe(200);
    expect(byId.json.redemptionPurpose).toBe('family');
    expect(
      (await update({ type: 'USERGROUP2', identifierType: 'externalId', identifierValue: 'GRP-9001' }))
        .status,
    ).toBe(200);
    expect(
      (await update({ type: 'CUSTOMER', identifierType: 'mobile', identifierValue: MEERA.mobile })).status,
    ).toBe(200);
    const other = await update({ type: 'USERGROUP2', identifierType: 'id', identifierValue: '9002' });
    expect(other.json.errors[0]).toMatchObject({
      code: 750,
      message: 'Redemption update failed : redemption does not belong to the given entity',
    });
    const unknown = await update({ type: 'USERGROUP2', identifierType: 'id', identifierValue: '77' });
    expect(unknown.json.errors[0].code).toBe(1219);
    const fleet = await update({ type: 'FLEET', identifierType: 'id', identifierValue: '9001' });
    expect(fleet.json.errors[0].code).toBe(1219);
  });

  it('unlockPromisedPoints for a group: 1645 when it names no group, 82323277 (no bill) for a real one', async () => {
    const unlock = (q: string) =>
      call(sb, 'POST', `/v2/points/unlockPromisedPoints?source=INSTORE&type=USERGROUP2&${q}`, {
        eventName: 'GroupTransactionAdd',
        billNumber: 'B-1',
      });
    expect((await unlock('identifierName=id&identifierValue=77')).json.errors[0].code).toBe(1645);
    expect((await unlock('identifierName=mobile&identifierValue=919000000201')).json.errors[0].code).toBe(
      1645,
    );
    expect((await unlock('identifierName=id&identifierValue=9001')).json.errors[0].code).toBe(82323277);
    expect((await unlock('identifierName=externalId&identifierValue=GRP-9001')).json.errors[0].code).toBe(
      82323277,
    );
  });

  it('workflow approval runs a group redemption from its embedded query', async () => {
    const created = await fileWorkflow(
      sb,
      { points_redeemed: 40, customer: MEERA },
      { format: 'json', user_group2_id: 9001 },
    );
    const decided = await decideWorkflow(sb, created.json.data.requestId, 'approved');
    expect(decided.json.data.state).toBe('Approved');
    expect(pool(9001)).toBe(2960);
    const s = sb.stats();
    expect(s.workflowRequests.byGroup).toEqual({ '9001': { count: 1, points: 40 } });
    expect(s.redemptions.byGroup).toEqual({ '9001': { count: 1, points: 40 } });
  });
});

describe('groups in seeds and state files', () => {
  const customers = [
    { id: 1, mobile: '911000000001', points: 0 },
    { id: 2, mobile: '911000000002', points: 0 },
  ];

  it('validates the group: members exist, the primary is a member, one group per customer, unique ids', () => {
    const bad = (groups: unknown[]) => () => validateSeed({ customers, groups });
    expect(bad([{ id: 1, primary_member: 1, members: [1, 3], points: 1 }])).toThrow(
      'seed: groups[0].members[1]: no customer with id 3',
    );
    expect(bad([{ id: 1, primary_member: 2, members: [1], points: 1 }])).toThrow(
      'seed: groups[0].primary_member: expected one of members',
    );
    expect(
      bad([
        { id: 1, primary_member: 1, members: [1], points: 1 },
        { id: 2, primary_member: 1, members: [1], points: 1 },
      ]),
    ).toThrow('seed: groups[1].members[0]: customer 1 is already a member of groups[0]');
    expect(
      bad([
        { id: 1, external_id: 'G', primary_member: 1, members: [1], points: 1 },
        { id: 1, external_id: 'G', primary_member: 2, members: [2], points: 1 },
      ]),
    ).toThrow(/groups\[1\]\.id: duplicate id[\s\S]*groups\[1\]\.external_id: duplicate external_id/);
    expect(bad([{ id: 1, primary_member: 1, members: [1], points: '1.0001' }])).toThrow(
      'seed: groups[0].points: expected at most 3 decimals',
    );
    expect(bad([{ id: 1, primary_member: 1, members: [1], points: 1, pooled: true }])).toThrow(
      'seed: groups[0].pooled: unknown field "pooled"',
    );
  });

  it('the pool survives a restart with a state file', async () => {
    await sb.close();
    const dir = mkdtempSync(join(tmpdir(), 'cap-sandbox-groups-'));
    try {
      const statePath = join(dir, 'state.json');
      sb = await startSandbox({ statePath });
      await redeem(sb, { points_redeemed: 25, customer: RAVI }, 'user_group2_id=9001');
      await sb.close();
      sb = await startSandbox({ statePath });
      expect(pool(9001)).toBe(2975);
      expect(sb.stats().redemptions.byGroup).toEqual({ '9001': { count: 1, points: 25 } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
