#!/usr/bin/env node
import { fatalLine } from './config.js';

const HELP = `capillary-loyalty-mcp: MCP server for Capillary's loyalty points API

Usage:
  capillary-loyalty-mcp                      serve MCP over stdio (what desktop clients launch)
  capillary-loyalty-mcp --http [--port N] [--host H]
                                             serve Streamable HTTP at /mcp (default 127.0.0.1:3000)
  capillary-loyalty-mcp sandbox [--port N] [--seed FILE] [--state FILE]
                                             run only the embedded Capillary sandbox
  capillary-loyalty-mcp unresolved           list money attempts whose outcome is unknown
  capillary-loyalty-mcp settle --key K --as applied|not-applied --by NAME --reason TEXT
                                             settle one by hand (an operator, never the model)
  capillary-loyalty-mcp operator-token       show the operator token for the approval page and console
                                             (generated into the data dir when CAPILLARY_OPERATOR_TOKEN is unset)
  capillary-loyalty-mcp --help | --version

With no CAPILLARY_BASE_URL the server runs on the embedded sandbox. Configuration: see README.`;

const SUBCOMMANDS = ['sandbox', 'unresolved', 'settle', 'operator-token'] as const;
const FLAGS = ['--http', '--port', '--host', '--help', '-h', '--version'];

/** A command line the CLI does not take: said on stderr with the usage, exit status 2. */
class UsageError extends Error {}

const distance = (a: string, b: string): number => {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
};

/** The known word closest to a mistyped one (at most two edits away). */
function nearest(word: string, known: readonly string[]): string | undefined {
  const best = known.map((k) => ({ k, d: distance(word.toLowerCase(), k) })).sort((x, y) => x.d - y.d)[0];
  return best && best.d <= 2 ? best.k : undefined;
}

/**
 * The server's own command line (no subcommand): --http, --port N, --host H, nothing else. Every
 * other word is refused, so a typo (--htp) never starts a server the user did not ask for.
 */
function checkServeArgs(argv: string[]): { http: boolean } {
  let http = false;
  let listenFlag: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const flag = a.startsWith('--') && a.includes('=') ? a.slice(0, a.indexOf('=')) : a;
    if (flag === '--http' && flag === a) http = true;
    else if (flag === '--port' || flag === '--host') {
      listenFlag ??= flag;
      if (flag === a) i++; // its value (checked by the HTTP transport)
    } else {
      const near = a.startsWith('-') ? nearest(flag, FLAGS) : nearest(a, SUBCOMMANDS);
      const what = a.startsWith('-') ? 'option' : 'command';
      throw new UsageError(`unknown ${what} "${a}"${near ? ` (did you mean ${near}?)` : ''}`);
    }
  }
  if (listenFlag && !http) throw new UsageError(`${listenFlag} is an option of --http`);
  return { http };
}

async function main(argv: string[]): Promise<void> {
  const sub = (SUBCOMMANDS as readonly string[]).includes(argv[0]) ? argv[0] : undefined;
  if (!sub && (argv.includes('--help') || argv.includes('-h'))) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  if (!sub && argv.includes('--version')) {
    const { SERVER_VERSION } = await import('./mcp/server.js');
    process.stdout.write(`${SERVER_VERSION}\n`);
    return;
  }
  if (sub === 'operator-token') {
    // For the operator at a terminal: the model never runs this (it is not a tool).
    const { loadLedgerPaths } = await import('./config.js');
    const { operatorToken, tokenFile } = await import('./console/auth.js');
    if (process.env.CAPILLARY_OPERATOR_TOKEN?.trim()) {
      process.stdout.write('CAPILLARY_OPERATOR_TOKEN is set: sign in with its value.\n');
      return;
    }
    const { dataDir } = loadLedgerPaths(process.env);
    const token = operatorToken(undefined, dataDir);
    process.stderr.write(`operator token (kept in ${tokenFile(dataDir)}, mode 0600):\n`);
    process.stdout.write(`${token}\n`);
    return;
  }
  if (sub === 'settle' || sub === 'unresolved') {
    const { runOperatorCli, UsageError: OperatorUsage, OPERATOR_USAGE } = await import('./operator-cli.js');
    if (argv.includes('--help') || argv.includes('-h')) {
      process.stdout.write(`${OPERATOR_USAGE}\n`);
      return;
    }
    try {
      await runOperatorCli(argv);
    } catch (e) {
      if (!(e instanceof OperatorUsage)) throw e;
      process.stderr.write(`capillary-loyalty-mcp: ${e.message}\n${OPERATOR_USAGE}\n`);
      process.exitCode = 2;
    }
    return;
  }
  if (sub === 'sandbox') {
    const { runSandboxCli, SandboxCliError, SANDBOX_USAGE } = await import('./sandbox/cli.js');
    if (argv.includes('--help') || argv.includes('-h')) {
      process.stdout.write(`${SANDBOX_USAGE}\n`);
      return;
    }
    try {
      await runSandboxCli(argv.slice(1));
    } catch (e) {
      if (!(e instanceof SandboxCliError)) throw e;
      // The sandbox's own message already ends with its usage where that helps.
      process.stderr.write(`capillary-loyalty-mcp: ${e.message}\n`);
      process.exitCode = 2;
    }
    return;
  }
  let serve: { http: boolean };
  try {
    serve = checkServeArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`capillary-loyalty-mcp: ${e.message}\n\n${HELP}\n`);
    process.exitCode = 2;
    return;
  }
  const { start } = await import('./start.js');
  if (serve.http) {
    const { runHttp } = await import('./mcp/http/server.js');
    await runHttp(argv, start);
    return;
  }
  const { runStdio } = await import('./mcp/stdio.js');
  await runStdio(() => start(process.env, { background: true }));
}

main(process.argv.slice(2)).catch((e) => {
  process.stderr.write(fatalLine(e));
  process.exit(1);
});
