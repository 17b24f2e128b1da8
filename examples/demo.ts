// `npm run demo`: a real MCP client drives the server (stdio, embedded sandbox) through a
// support scenario and prints the transcript. Nothing here is mocked.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const here = dirname(fileURLToPath(import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'clmcp-demo-'));
const out = (s: string) => process.stdout.write(`${s}\n`);

async function main() {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? dataDir,
    CAPILLARY_DATA_DIR: dataDir,
  };
  const transport = new StdioClientTransport({
    command: process.execPath,
    // Built to dist-dev/demo.js; the server is dist/cli.js beside it.
    args: [join(here, '..', 'dist', 'cli.js')],
    env,
    stderr: 'ignore',
  });
  const client = new Client({ name: 'demo-support-agent', version: '1.0.0' });
  await client.connect(transport);
  const { tools } = await client.listTools();
  out(
    `Connected to ${client.getServerVersion()?.name} with ${tools.length} tools: ${tools.map((t) => t.name).join(', ')}\n`,
  );

  let step = 0;
  const run = async (why: string, name: string, args: Record<string, unknown>) => {
    out(`--- ${++step}. ${why}`);
    out(`> ${name} ${JSON.stringify(args)}`);
    const r = (await client.callTool({ name, arguments: args })) as {
      structuredContent?: any;
      isError?: boolean;
    };
    out(`< ${r.isError ? 'ERROR ' : ''}${JSON.stringify(r.structuredContent)}\n`);
    return r.structuredContent;
  };

  const asha = { mobile: '919000000001' };
  out('Scenario: Asha (mobile 919000000001) asks support to use 250 points on her bill B-2001.\n');
  await run('Look at the customer', 'get_points_balance', {
    identifier_name: 'mobile',
    identifier_value: asha.mobile,
  });
  await run('Check the redemption will pass', 'check_points_redeemable', { customer: asha, points: 250 });
  await run('Preview the exact request (dry run, nothing sent)', 'redeem_points', {
    customer: asha,
    points: 250,
    transaction_number: 'B-2001',
    dry_run: true,
  });
  const r = await run('Redeem', 'redeem_points', {
    customer: asha,
    points: 250,
    transaction_number: 'B-2001',
    notes: 'Bill B-2001',
  });
  await run(
    'The agent retries after a timeout: the server replays, nothing is spent twice',
    'redeem_points',
    { customer: asha, points: 250, transaction_number: 'B-2001', notes: 'Bill B-2001' },
  );
  await run('See the balance went down once', 'get_points_balance', {
    identifier_name: 'mobile',
    identifier_value: asha.mobile,
  });
  await run('Fix the bill metadata on the redemption', 'update_redemption', {
    redemption_id: r?.redemption_id,
    bill_number: 'B-2001-A',
    purpose: 'Voucher against bill B-2001',
    entity: { type: 'CUSTOMER', identifier_type: 'mobile', identifier_value: asha.mobile },
  });
  out(
    'Scenario: Ravi (mobile 919000000003) has 120 points promised on bill B-1001; the return window has passed.\n',
  );
  await run('See promised points', 'get_points_balance', {
    identifier_name: 'mobile',
    identifier_value: '919000000003',
  });
  await run('Unlock them', 'unlock_promised_points', {
    identifier_name: 'mobile',
    identifier_value: '919000000003',
    source: 'INSTORE',
    event_name: 'TransactionAdd',
    bill_number: 'B-1001',
  });
  await run('Balance now includes them', 'get_points_balance', {
    identifier_name: 'mobile',
    identifier_value: '919000000003',
  });
  out('Scenario: a large goodwill redemption needs a checker (maker-checker).\n');
  const req = await run('File the request', 'request_points_redemption', {
    entity: { till_id: '50682289' },
    customer: asha,
    points: 1000,
    notes: 'Goodwill',
  });
  await run('Follow it: waiting for a checker, nothing deducted yet', 'get_redemption_request', {
    request_id: req?.request_id,
  });
  out('Scenario: a mistaken redemption is undone.\n');
  await run('Reverse the 250-point redemption', 'reverse_redemption', {
    redemption_id: r?.redemption_id,
    customer: asha,
  });
  await run('Balance is back', 'get_points_balance', {
    identifier_name: 'mobile',
    identifier_value: asha.mobile,
  });
  await client.close();
}

main()
  .catch((e) => {
    process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  })
  .finally(() => rmSync(dataDir, { recursive: true, force: true }));
