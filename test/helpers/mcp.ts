import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';

export const CLI = resolve(import.meta.dirname, '../../dist/cli.js');

export const tempDir = (prefix = 'clmcp-') => mkdtempSync(join(tmpdir(), prefix));

export interface Connected {
  client: Client;
  stderr: () => string;
  close: () => Promise<void>;
  pid?: number;
}

/** Spawns the built server over stdio with the SDK's real Client. Env is the whole environment it gets. */
export async function connectStdio(
  env: Record<string, string>,
  opts: { capabilities?: Record<string, unknown> } = {},
): Promise<Connected> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI],
    env: { PATH: process.env.PATH ?? '', HOME: env.HOME ?? tempDir('home-'), ...env },
    stderr: 'pipe',
  });
  let err = '';
  transport.stderr?.on('data', (d) => {
    err += d.toString();
  });
  const client = new Client(
    { name: 'test-client', version: '1.0.0' },
    { capabilities: opts.capabilities ?? {} },
  );
  await client.connect(transport);
  return {
    client,
    stderr: () => err,
    pid: transport.pid ?? undefined,
    close: async () => {
      await client.close();
    },
  };
}

export async function call(
  c: Client,
  name: string,
  args: Record<string, unknown>,
): Promise<CallToolResult & { structuredContent: any }> {
  return (await c.callTool({ name, arguments: args })) as any;
}

/** Live-mode env against a local fake upstream, with a fresh data dir. */
export const liveEnv = (baseUrl: string, extra: Record<string, string> = {}) => ({
  CAPILLARY_BASE_URL: baseUrl,
  CAPILLARY_USERNAME: 'till.user',
  CAPILLARY_PASSWORD: 'canary-pass-5f3e',
  CAPILLARY_ORG_ID: '777',
  CAPILLARY_UI_AUTH_TOKEN: 'canary-ui-jwt-91ab',
  CAPILLARY_CLIENT_SIGNATURE: 'maker.bot',
  CAPILLARY_DATA_DIR: tempDir('data-'),
  CAPILLARY_TIMEOUT_MS: '2000',
  ...extra,
});

/** A loopback port with nothing listening (bound, then released). */
export async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
