import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeCapillary } from './fake-capillary.js';
import {
  baseArgs,
  callTool,
  describeResult,
  serverEnv,
  startFake,
  startOrRefuse,
  subject,
  tempDir,
} from './harness.js';

/**
 * A configuration that can never send (credentials written into the base URL: fetch refuses to
 * build such a request) is a start-up error naming the setting, never a stream of money calls
 * reported "outcome unknown, points may have been deducted" and counted against the caps.
 */

let fake: FakeCapillary;
beforeAll(async () => {
  fake = await startFake();
});
afterAll(async () => {
  await fake?.close();
});

describe('a configuration that can never send', () => {
  it('credentials in CAPILLARY_BASE_URL: a start-up error naming the setting (without the secret)', async () => {
    const url = new URL(fake.url);
    url.username = 'someone';
    url.password = 'secret-in-url';
    const env = { ...serverEnv(fake, tempDir('adv-nosend-')), CAPILLARY_BASE_URL: url.toString() };
    const started = await startOrRefuse(env);
    if (started.mcp) {
      // It started: show what an agent would get, then fail.
      const s = subject(fake, 'redeem_points');
      const r = await callTool(started.mcp, 'redeem_points', baseArgs('redeem_points', s));
      await started.mcp.close();
      expect.fail(
        `the server started; a redemption then answered ${describeResult(r)} and ${fake.attemptsFor(s.customer.id).length} request(s) reached the API`,
      );
    }
    expect(started.refused).toMatch(/CAPILLARY_BASE_URL/);
    expect(started.refused).not.toContain('secret-in-url');
  });
});
