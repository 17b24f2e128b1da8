import { it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createServer } from '../../src/server.js';
import { ALL_TOOLS } from '../../src/tools.js';
import { FakeUpstream, redeemOk } from '../helpers/fake-upstream.js';
import { liveEnv } from '../helpers/mcp.js';

it('probe', async () => {
  const fake = await new FakeUpstream()
    .on('POST', '/v1.1/points/redeem', (req) => ({ json: redeemOk(JSON.parse(req.body).root.redeem[0].points_redeemed, 1) }))
    .on('GET', '/v2/customers/lookup/points/balance', { json: { data: { customerId: 1, loyaltyPoints: 5 } } })
    .on('POST', '/v2/points/unlockPromisedPoints', { json: { pointsUnlocked: [] } })
    .start();
  const app = createApp(loadConfig(liveEnv(fake.url)), ALL_TOOLS);
  const server = createServer(app);
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(b);
  const c = new Client({ name: 't', version: '1' });
  await c.connect(a);
  const call = async (name: string, args: any) => {
    const before = fake.requests.length;
    const r: any = await c.callTool({ name, arguments: args });
    console.log(name, JSON.stringify(args).slice(0, 120), '=>', JSON.stringify(r.structuredContent).slice(0, 400), 'sent', fake.requests.length - before, fake.requests.slice(before).map((x) => x.body.slice(0, 200) + ' ' + JSON.stringify(x.query)));
  };
  const cust = { mobile: '919000000001' };
  for (const p of [1e-19, 5e-324, 999999999.9990001, 0.0005, 1e-7, 1.1115, 4.35, 1e9, 0.001])
    await call('redeem_points', { customer: cust, points: p, dry_run: true });
  await call('get_points_balance', { identifier_name: 'mobile', identifier_value: 'a\uD800b' });
  await call('redeem_points', { customer: cust, points: 3, group: { external_id: 'x\uDC00' } });
  await call('unlock_promised_points', { identifier_name: 'mobile', identifier_value: '9', source: 'INSTORE', event_name: 'TransactionAdd', bill_number: 'B', event_log_id: '007', source_store_id: '9999999999999999999' });
  await call('redeem_points', { customer: cust, points: 2, custom_fields: { __proto__: 'x', a: 'b' } });
  await call('redeem_points', JSON.parse('{"customer":{"mobile":"919000000001"},"points":2,"custom_fields":{"__proto__":"x","a":"b"}}'));
  await call('redeem_points', { customer: cust, points: 2, ['k'.repeat(5000)]: 1 });
  await call('update_redemption', { redemption_id: 'a', bill_id: '9999999999999999999' , dry_run: true});
  await call('redeem_points', { customer: cust, points: 2, dryrun: true });
  await c.close();
  await app.close();
  await fake.close();
});
