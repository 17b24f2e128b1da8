/**
 * The upstream's own count: what the sandbox committed, per customer id and per
 * external_reference_number, read from the handle (in-process) and over HTTP (GET /__sandbox/stats,
 * no auth, loopback only). Money is judged by this count, not by any reply.
 */
import { networkInterfaces } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { type SandboxHandle, type SandboxStats, startSandbox } from '../../src/sandbox/index.js';
import { isLoopback } from '../../src/sandbox/server.js';
import { spawnSandbox } from '../fixtures/cli.js';
import { AUTH, call, decideWorkflow, fileWorkflow, itemStatus, redeem } from '../fixtures/sandbox.js';

let sb: SandboxHandle | undefined;
afterEach(async () => {
  await sb?.close();
  sb = undefined;
});

const readStats = async (url: string): Promise<{ status: number; json: SandboxStats }> => {
  const r = await fetch(`${url}/__sandbox/stats`);
  return { status: r.status, json: (await r.json()) as SandboxStats };
};

/** A keyed redemption for a customer named by mobile. */
const spend = (mobile: string, points: number, key: string) =>
  redeem(sb!, { points_redeemed: points, customer: { mobile }, external_reference_number: key });

describe('sandbox stats (in-process)', () => {
  it('start at zero', async () => {
    sb = await startSandbox();
    expect(sb.stats()).toEqual({
      redemptions: {
        count: 0,
        points: 0,
        byCustomer: {},
        byExternalReference: {},
        byGroup: {},
        viaWorkflow: { count: 0, points: 0 },
      },
      reversals: { count: 0, points: 0, byCustomer: {}, byExternalReference: {}, byGroup: {} },
      workflowRequests: {
        count: 0,
        points: 0,
        byCustomer: {},
        byExternalReference: {},
        byGroup: {},
        byState: { AdminTask: 0, Approved: 0, Rejected: 0, Failed: 0 },
      },
      unlocks: { count: 0, points: 0, byCustomer: {}, byGroup: {} },
    });
  });

  it('count committed redemptions only: a replay, a failed attempt and a transient fault add nothing', async () => {
    sb = await startSandbox();
    const first = await spend('919000000001', 12.5, 'K-1');
    const replay = await spend('919000000001', 12.5, 'K-1');
    expect(replay.text).toBe(first.text); // the reply cannot tell a replay from a second spend; the count can
    await redeem(sb, { points_redeemed: 1, customer: { id: '0101' } }); // no key, another spelling of 101
    const refused = await spend('919000000002', 1, 'K-2');
    expect(itemStatus(refused).code).toBe(803);
    const fault = await spend('919000000500', 1, 'K-3');
    expect(fault.status).toBe(500);

    const s = sb.stats().redemptions;
    expect(s.count).toBe(2);
    expect(s.points).toBe(13.5);
    expect(s.byCustomer).toEqual({ '101': { count: 2, points: 13.5 } });
    expect(s.byExternalReference).toEqual({ 'K-1': { count: 1, points: 12.5 } });
  });

  it('count a redemption whose answer was lost: committed though the client never heard', async () => {
    sb = await startSandbox();
    await expect(spend('919000000599', 10, 'L-1')).rejects.toThrow();
    await expect(spend('919000000599', 10, 'L-1')).rejects.toThrow();
    expect(sb.stats().redemptions.byExternalReference).toEqual({ 'L-1': { count: 1, points: 10 } });
    expect(sb.stats().redemptions.byCustomer).toEqual({ '599': { count: 1, points: 10 } });
  });

  it('count reversals, each partial one, under the reversed redemption', async () => {
    sb = await startSandbox();
    const r = await spend('919000000001', 100, 'R-1');
    const redemptionId = r.json.response.responses.points.redemption_id;
    const rev = (points: number) =>
      call(sb!, 'POST', '/v2/points/reverse', {
        redemptionId,
        pointsToBeReversed: points,
        identifier: { type: 'mobile', value: '919000000001' },
      });
    expect((await rev(30)).status).toBe(200);
    expect((await rev(20.5)).status).toBe(200);
    expect((await rev(60)).status).toBe(400); // 3801: more than what remains, nothing committed
    const s = sb.stats().reversals;
    expect(s).toEqual({
      count: 2,
      points: 50.5,
      byCustomer: { '101': { count: 2, points: 50.5 } },
      byExternalReference: { 'R-1': { count: 2, points: 50.5 } },
      byGroup: {},
    });
  });

  it('count workflow requests by state, customer and key, and the redemptions they ran', async () => {
    sb = await startSandbox();
    const a = await fileWorkflow(sb, {
      points_redeemed: 7,
      customer: { mobile: '+91 90000 00001' },
      external_reference_number: 'W-1',
    });
    const b = await fileWorkflow(sb, { points_redeemed: 3, customer: { id: '102' } });
    await fileWorkflow(sb, { points_redeemed: 2, customer: { mobile: '919999999999' } });
    await decideWorkflow(sb, a.json.data.requestId, 'approved');
    await decideWorkflow(sb, b.json.data.requestId, 'rejected');
    const s = sb.stats();
    expect(s.workflowRequests).toEqual({
      count: 3,
      points: 12,
      byCustomer: {
        '101': { count: 1, points: 7 },
        '102': { count: 1, points: 3 },
        unknown: { count: 1, points: 2 },
      },
      byExternalReference: { 'W-1': { count: 1, points: 7 } },
      byGroup: {},
      byState: { AdminTask: 1, Approved: 1, Rejected: 1, Failed: 0 },
    });
    expect(s.redemptions.count).toBe(1);
    expect(s.redemptions.viaWorkflow).toEqual({ count: 1, points: 7 });
    expect(s.redemptions.byExternalReference).toEqual({ 'W-1': { count: 1, points: 7 } });
  });

  it('count unlocked promised points', async () => {
    sb = await startSandbox();
    await call(
      sb,
      'POST',
      '/v2/points/unlockPromisedPoints?source=INSTORE&identifierName=mobile&identifierValue=919000000003',
      {
        eventName: 'TransactionAdd',
        billNumber: 'B-1001',
      },
    );
    expect(sb.stats().unlocks).toEqual({
      count: 1,
      points: 120,
      byCustomer: { '103': { count: 1, points: 120 } },
      byGroup: {},
    });
  });
});

describe('GET /__sandbox/stats (over HTTP)', () => {
  it('answers the same count without credentials, and is not counted as a Capillary request', async () => {
    sb = await startSandbox();
    await spend('919000000001', 5, 'H-1');
    const before = sb.requests;
    const r = await readStats(sb.url);
    expect(r.status).toBe(200);
    expect(r.json).toEqual(sb.stats());
    expect(r.json.redemptions.byExternalReference['H-1']).toEqual({ count: 1, points: 5 });
    expect(sb.requests).toBe(before);
    const post = await fetch(`${sb.url}/__sandbox/stats`, { method: 'POST' });
    expect(post.status).toBe(405);
  });

  it('from a standalone sandbox process: the count survives a lost answer', async () => {
    const child = await spawnSandbox();
    try {
      const auth = { authorization: AUTH, 'content-type': 'application/json' };
      const body = JSON.stringify({
        root: {
          redeem: [
            { points_redeemed: 25, customer: { mobile: '919000000599' }, external_reference_number: 'S-1' },
          ],
        },
      });
      await expect(
        fetch(`${child.url}/v1.1/points/redeem`, { method: 'POST', headers: auth, body }),
      ).rejects.toThrow();
      const r = await readStats(child.url);
      expect(r.status).toBe(200);
      expect(r.json.redemptions.byCustomer).toEqual({ '599': { count: 1, points: 25 } });
      expect(r.json.redemptions.byExternalReference).toEqual({ 'S-1': { count: 1, points: 25 } });
    } finally {
      await child.stop();
    }
  });

  const external = Object.values(networkInterfaces())
    .flat()
    .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;

  it.skipIf(!external)('refuses callers that are not on loopback (403)', async () => {
    sb = await startSandbox({ host: '0.0.0.0' });
    const r = await fetch(`http://${external}:${sb.port}/__sandbox/stats`);
    expect(r.status).toBe(403);
    expect(((await r.json()) as any).errors[0].code).toBe(403);
    // the Capillary endpoints still answer there (with credentials)
    const ok = await fetch(
      `http://${external}:${sb.port}/v2/customers/lookup/customerDetails?source=INSTORE&identifierName=id&identifierValue=101`,
      {
        headers: { authorization: AUTH },
      },
    );
    expect(ok.status).toBe(200);
  });

  it('isLoopback knows loopback addresses', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1'])
      expect(isLoopback(a), a).toBe(true);
    for (const a of [undefined, '', '10.0.0.1', '::ffff:10.0.0.1', '1270.0.0.1', '::2', '128.0.0.1'])
      expect(isLoopback(a), String(a)).toBe(false);
  });
});
