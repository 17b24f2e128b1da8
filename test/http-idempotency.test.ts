import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerFiles } from '../src/safety/ledger.js';
import {
  type Child,
  connectHttp,
  type HttpChild,
  sandboxEnv,
  spawnHttp,
  spawnSandbox,
} from './helpers/http-server.js';
import { type Connected, call, connectStdio, tempDir } from './helpers/mcp.js';

describe('idempotency across transports: stdio then HTTP, one sandbox, one data dir', () => {
  let sandbox: Child & { url: string };
  let stdio: Connected;
  let http: HttpChild;
  let dataDir: string;

  beforeAll(async () => {
    sandbox = await spawnSandbox();
    dataDir = tempDir('shared-data-');
    const env = sandboxEnv(sandbox.url, dataDir);
    stdio = await connectStdio(env);
    http = await spawnHttp(env);
  });
  afterAll(async () => {
    await stdio?.close();
    await http?.stop();
    await sandbox?.stop();
  });

  it('the same redeem_points over HTTP after stdio is replayed; the balance went down once', async () => {
    const args = { customer: { mobile: '919000000001' }, points: 25, notes: 'cross-transport' };
    const httpClient = await connectHttp(http.url);
    try {
      const bal = async () =>
        (
          await call(httpClient, 'get_points_balance', {
            identifier_name: 'mobile',
            identifier_value: '919000000001',
          })
        ).structuredContent.balance;
      expect(await bal()).toBe(5000);

      const first = await call(stdio.client, 'redeem_points', args);
      expect(first.isError, JSON.stringify(first.structuredContent)).toBeFalsy();
      expect(first.structuredContent.replayed).toBeUndefined();
      expect(first.structuredContent.balance).toBe(4975);

      const second = await call(httpClient, 'redeem_points', args);
      expect(second.isError).toBeFalsy();
      expect(second.structuredContent).toMatchObject({
        replayed: true,
        redemption_id: first.structuredContent.redemption_id,
        idempotency_key: first.structuredContent.idempotency_key,
      });
      expect(await bal()).toBe(4975);

      const ledger = ledgerFiles(dataDir)
        .map((f) => readFileSync(f, 'utf8'))
        .join('')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const mine = ledger.filter((e) => e.key === first.structuredContent.idempotency_key);
      expect(mine.filter((e) => e.status === 'succeeded').length).toBeGreaterThanOrEqual(1);
      expect(mine.every((e) => e.status !== 'failed' && e.status !== 'unknown')).toBe(true);
    } finally {
      await httpClient.close();
    }
  });
});
