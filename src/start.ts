import { type App, createApp, openLedger, voiceFor } from './app.js';
import type { Config } from './config.js';
import { ConfigError, loadConfig, loadSandboxConfig, type SandboxTarget } from './config.js';
import { SANDBOX_CREDENTIALS } from './sandbox/credentials.js';
import { ALL_TOOLS } from './toolkit/all-tools.js';

export interface Started {
  app: App;
  /** Closes the app (flushes ledger and audit) and the embedded sandbox. */
  close(): Promise<void>;
  sandboxUrl?: string;
  /** Settles once a sandbox started in the background listens; rejects if it cannot start. */
  ready?: Promise<void>;
}

const sandboxMode = (url: string) =>
  `SANDBOX MODE: no CAPILLARY_BASE_URL set, serving the embedded Capillary sandbox at ${url} with simulated test customers. No real points move.`;

/**
 * Builds the app from the environment. With no CAPILLARY_BASE_URL, the embedded sandbox starts
 * in-process on an ephemeral loopback port and the server uses it (and says so on stderr).
 * With `background`, the sandbox starts while the server already answers: tools/list needs no
 * upstream, and a desktop client's first message is tools/list (loading the sandbox and node:http
 * is about a tenth of the cold start). Tool calls wait for it (callTool awaits app.ready).
 */
export async function start(
  env: NodeJS.ProcessEnv = process.env,
  opts: { background?: boolean } = {},
): Promise<Started> {
  if (!env.CAPILLARY_BASE_URL?.trim() && opts.background) return startInBackground(env);
  let sandbox: { url: string; close(): Promise<void> } | undefined;
  let target: SandboxTarget | undefined;
  if (!env.CAPILLARY_BASE_URL?.trim()) {
    sandbox = await bootSandbox(env);
    target = { url: sandbox.url, ...SANDBOX_LOGIN };
  }
  try {
    const config = loadConfig(env, target);
    const app = await build(config);
    if (sandbox) app.log.info(sandboxMode(sandbox.url));
    return {
      app,
      sandboxUrl: sandbox?.url,
      async close() {
        await app.close();
        await sandbox?.close();
      },
    };
  } catch (e) {
    await sandbox?.close();
    throw e;
  }
}

/** The app, over its ledger: a PostgreSQL ledger is connected and migrated first. */
async function build(config: Config): Promise<App> {
  const voice = voiceFor(config);
  const store = await openLedger(config, voice);
  try {
    return createApp(config, ALL_TOOLS, { ...voice, store });
  } catch (e) {
    await store?.close();
    throw e;
  }
}

const SANDBOX_LOGIN = {
  username: SANDBOX_CREDENTIALS.username,
  password: SANDBOX_CREDENTIALS.password,
  orgId: SANDBOX_CREDENTIALS.orgId,
  uiAuthToken: SANDBOX_CREDENTIALS.uiAuthToken,
};

async function bootSandbox(env: NodeJS.ProcessEnv) {
  const { startSandbox } = await import('./sandbox/index.js');
  return startSandbox(loadSandboxConfig(env));
}

async function startInBackground(env: NodeJS.ProcessEnv): Promise<Started> {
  // The address is filled in once the sandbox listens; nothing is sent before (app.ready).
  const config = loadConfig(env, { url: 'http://127.0.0.1', ...SANDBOX_LOGIN });
  const app = await build(config);
  let sandbox: { url: string; close(): Promise<void> } | undefined;
  const ready = bootSandbox(env).then((sb) => {
    sandbox = sb;
    config.baseUrl = sb.url;
    config.workflowBaseUrl = sb.url;
    app.log.info(sandboxMode(sb.url));
  });
  app.ready = ready;
  ready.catch(() => {}); // the transport reports it
  return {
    app,
    ready,
    get sandboxUrl() {
      return sandbox?.url;
    },
    async close() {
      await app.close();
      await ready.catch(() => {});
      await sandbox?.close();
    },
  };
}

export { ConfigError };
