import { describe, expect, it } from 'vitest';
import { liveEnv } from '../fixtures/canary.js';
import { tempDir } from '../fixtures/cli.js';
import { redemption as args, call, connectStdio } from '../fixtures/clients.js';
import { perTest } from '../fixtures/lifecycle.js';

/** Least privilege: which tools a server lists and answers, by configuration (CAPILLARY_READ_ONLY, CAPILLARY_TOOLS, CAPILLARY_EXCLUDE_TOOLS). */

const { server } = perTest();
const ASHA = { mobile: '919000000001' };

describe('least privilege', () => {
  const names = async (env: Record<string, string>) => {
    const m = await server(env);
    return (await m.client.listTools()).tools.map((t) => t.name).sort();
  };
  it('read-only lists only tools annotated readOnlyHint, and wins over the allow-list', async () => {
    const m = await server(
      liveEnv('http://127.0.0.1:9', { CAPILLARY_READ_ONLY: 'true', CAPILLARY_TOOLS: 'redeem_points' }),
    );
    const { tools } = await m.client.listTools();
    expect(tools.every((t) => t.annotations?.readOnlyHint === true)).toBe(true);
    expect(tools.map((t) => t.name)).not.toContain('redeem_points');
    // A tool this server does not list is an unknown tool: a protocol error (invalid params).
    await expect(call(m.client, 'redeem_points', args(5))).rejects.toMatchObject({ code: -32602 });
  });
  it('allow- and deny-lists shape tools/list', async () => {
    expect(
      await names(liveEnv('http://127.0.0.1:9', { CAPILLARY_TOOLS: 'redeem_points,update_redemption' })),
    ).toEqual(['redeem_points', 'update_redemption']);
    const denied = await names(liveEnv('http://127.0.0.1:9', { CAPILLARY_EXCLUDE_TOOLS: 'redeem_points' }));
    expect(denied).not.toContain('redeem_points');
    expect(denied).toContain('update_redemption');
  });
  it('an unknown tool name is a start-up error', async () => {
    await expect(
      connectStdio(liveEnv('http://127.0.0.1:9', { CAPILLARY_TOOLS: 'redeem_pointz' })),
    ).rejects.toThrow();
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
});
