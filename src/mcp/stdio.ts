import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { fatalLine } from '../config.js';
import { startConsole } from '../console/server.js';
import type { Started } from '../start.js';
import { createServer } from './server.js';

/** Serves MCP over stdio. stdin closing or a signal flushes the ledger and audit log, then exits 0. */
export async function runStdio(start: () => Promise<Started>): Promise<void> {
  const started = await start();
  // An embedded sandbox that cannot start (a bad seed file, say) ends the process, as it would
  // have before the server answered anything.
  started.ready?.catch((e) => {
    process.stderr.write(started.app.redactor.text(fatalLine(e)));
    process.exit(1);
  });
  // The approval page and operator console on a loopback port of their own (src/console/).
  const consoleServer = await startConsole(started.app);
  const server = createServer(started.app);
  const transport = new StdioServerTransport();
  let closing = false;
  const shutdown = async (why: string) => {
    if (closing) return;
    closing = true;
    started.app.log.debug(`shutting down (${why})`);
    try {
      await server.close();
    } catch {}
    await consoleServer?.close();
    await started.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.stdin.on('end', () => void shutdown('stdin closed'));
  await server.connect(transport);
}
