/**
 * `capillary-loyalty-mcp sandbox [--port N] [--seed FILE] [--state FILE] [--host H]`:
 * run the Capillary sandbox alone until SIGINT/SIGTERM.
 */
import { SANDBOX_CREDENTIALS } from './credentials.js';
import { type SandboxHandle, type SandboxOptions, startSandbox } from './index.js';

export const SANDBOX_USAGE = `Usage: capillary-loyalty-mcp sandbox [--port N] [--host H] [--seed FILE] [--state FILE]

  --port N      listen port (default 0: a free ephemeral port)
  --host H      listen address (default 127.0.0.1)
  --seed FILE   seed JSON file (default: the built-in dataset)
  --state FILE  persist state to FILE after every change and reload it at start`;

export interface SandboxCliIo {
  /** where messages go (default process.stderr) */
  stderr?: (text: string) => void;
  /** install SIGINT/SIGTERM handlers that close the sandbox and exit (default true) */
  handleSignals?: boolean;
  /** called after a signal closed the sandbox (default process.exit) */
  exit?: (code: number) => void;
}

export class SandboxCliError extends Error {
  override name = 'SandboxCliError';
}

export function parseSandboxArgs(argv: string[]): SandboxOptions & { help?: boolean } {
  const args = argv[0] === 'sandbox' ? argv.slice(1) : [...argv];
  const out: SandboxOptions & { help?: boolean } = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--help' || a === '-h') {
      out.help = true;
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    let value: string | undefined;
    const takeValue = (): string => {
      if (eq > 0 && a.startsWith('--')) return a.slice(eq + 1);
      const v = args[i + 1];
      if (v === undefined || v.startsWith('--'))
        throw new SandboxCliError(`${name} needs a value\n${SANDBOX_USAGE}`);
      i++;
      return v;
    };
    switch (name) {
      case '--port': {
        value = takeValue();
        const n = Number(value);
        if (!/^\d+$/.test(value) || n > 65535) {
          throw new SandboxCliError(`--port expects a port number 0-65535, got ${JSON.stringify(value)}`);
        }
        out.port = n;
        break;
      }
      case '--host':
        out.host = takeValue();
        break;
      case '--seed':
        out.seed = takeValue();
        break;
      case '--state':
        out.statePath = takeValue();
        break;
      default:
        throw new SandboxCliError(`unknown option ${JSON.stringify(a)}\n${SANDBOX_USAGE}`);
    }
  }
  return out;
}

/**
 * Parse the arguments, start the sandbox and print where it listens (usernames only, never
 * the password or secrets). Resolves with the running handle; it closes on SIGINT/SIGTERM.
 */
export async function runSandboxCli(
  argv: string[],
  io: SandboxCliIo = {},
): Promise<SandboxHandle | undefined> {
  const write = io.stderr ?? ((t: string) => process.stderr.write(t));
  const opts = parseSandboxArgs(argv);
  if (opts.help) {
    write(`${SANDBOX_USAGE}\n`);
    return undefined;
  }
  const { help: _help, ...sandboxOpts } = opts;
  const handle = await startSandbox(sandboxOpts);
  const c = SANDBOX_CREDENTIALS;
  write(
    [
      `Capillary sandbox listening on ${handle.url}`,
      `  Basic auth username: ${c.username} (password: see the sandbox README)`,
      `  OAuth key: ${c.oauthKey}   org id (X-CAP-API-AUTH-ORG-ID): ${c.orgId}`,
      opts.statePath ? `  state file: ${opts.statePath}` : '  state: in memory (lost on exit)',
      `  what was committed (for tests, loopback only, no auth): GET ${handle.url}/__sandbox/stats`,
      '  Press Ctrl+C to stop.',
      '',
    ].join('\n'),
  );
  if (io.handleSignals !== false) {
    const exit = io.exit ?? ((code: number) => process.exit(code));
    const stop = (sig: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      write(`Capillary sandbox: ${sig} received, closing\n`);
      handle.close().then(
        () => exit(0),
        () => exit(1),
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  }
  return handle;
}
