import { type App, createApp } from './app.js';
import { ConfigError, loadConfig, type SandboxTarget } from './config.js';
import { ALL_TOOLS } from './tools.js';

export interface Started {
  app: App;
  /** Closes the app (flushes ledger and audit) and the embedded sandbox. */
  close(): Promise<void>;
  sandboxUrl?: string;
}

/**
 * Builds the app from the environment. With no CAPILLARY_BASE_URL, the embedded sandbox starts
 * in-process on an ephemeral loopback port and the server uses it (and says so on stderr).
 */
export async function start(env: NodeJS.ProcessEnv = process.env): Promise<Started> {
  let sandbox: { url: string; close(): Promise<void> } | undefined;
  let target: SandboxTarget | undefined;
  if (!env.CAPILLARY_BASE_URL?.trim()) {
    const { startSandbox, SANDBOX_CREDENTIALS: c } = await import('./sandbox/index.js');
    sandbox = await startSandbox({
      seed: env.CAPILLARY_SANDBOX_SEED?.trim() || undefined,
      statePath: env.CAPILLARY_SANDBOX_STATE?.trim() || undefined,
    });
    target = {
      url: sandbox.url,
      username: c.username,
      password: c.password,
      orgId: c.orgId,
      uiAuthToken: c.uiAuthToken,
    };
  }
  try {
    const config = loadConfig(env, target);
    const app = createApp(config, ALL_TOOLS);
    if (sandbox)
      app.log.info(
        `SANDBOX MODE: no CAPILLARY_BASE_URL set, serving the embedded Capillary sandbox at ${sandbox.url} with simulated test customers. No real points move.`,
      );
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

export { ConfigError };
