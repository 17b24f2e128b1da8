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
  capillary-loyalty-mcp --help | --version

With no CAPILLARY_BASE_URL the server runs on the embedded sandbox. Configuration: see README.`;

async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stderr.write(`${HELP}\n`);
    return;
  }
  if (argv.includes('--version')) {
    const { SERVER_VERSION } = await import('./mcp/server.js');
    process.stdout.write(`${SERVER_VERSION}\n`);
    return;
  }
  if (argv[0] === 'settle' || argv[0] === 'unresolved') {
    const { runOperatorCli, UsageError, OPERATOR_USAGE } = await import('./operator-cli.js');
    try {
      await runOperatorCli(argv);
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      process.stderr.write(`capillary-loyalty-mcp: ${e.message}\n${OPERATOR_USAGE}\n`);
      process.exitCode = 2;
    }
    return;
  }
  if (argv[0] === 'sandbox') {
    const { runSandboxCli } = await import('./sandbox/cli.js');
    await runSandboxCli(argv.slice(1));
    return;
  }
  const { start } = await import('./start.js');
  if (argv.includes('--http')) {
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
