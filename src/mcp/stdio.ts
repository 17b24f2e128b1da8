import { Transform } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { STDIO_DEFAULT_MAX_BUFFER_SIZE } from '@modelcontextprotocol/server';
import { StdioServerTransport, serveStdio } from '@modelcontextprotocol/server/stdio';
import { fatalLine } from '../config.js';
import { startConsole } from '../console/server.js';
import type { Started } from '../start.js';
import { createServer, initializeError } from './server.js';

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
  let closing = false;
  const shutdown = async (why: string) => {
    if (closing) return;
    closing = true;
    started.app.log.debug(`shutting down (${why})`);
    try {
      await handle.close();
    } catch {}
    await consoleServer?.close();
    await started.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.stdin.on('end', () => void shutdown('stdin closed'));
  // One endpoint, both eras: the opening exchange (initialize, or a 2026-07-28 request) picks
  // the era, and the factory builds the server for it.
  const handle = serveStdio(({ era }) => createServer(started.app, era), {
    transport: new StdioServerTransport(process.stdin.pipe(initializeCheck()), process.stdout),
    onerror: (e) => started.app.log.debug('stdio transport error', { error: e.message }),
  });
}

/**
 * stdin as the SDK's transport reads it, line for line, except that a malformed `initialize` is
 * answered here with invalid params (see initializeError) and not passed on.
 */
function initializeCheck(): Transform {
  let rest = '';
  const utf8 = new StringDecoder('utf8');
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      const text = rest + utf8.write(chunk);
      const lines = text.split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        let refusal: object | undefined;
        try {
          refusal = initializeError(JSON.parse(line));
        } catch {}
        if (refusal) process.stdout.write(`${JSON.stringify(refusal)}\n`);
        else this.push(`${line}\n`);
      }
      // An endless line goes on to the SDK, which refuses it at its own limit.
      if (rest.length > STDIO_DEFAULT_MAX_BUFFER_SIZE) {
        this.push(rest);
        rest = '';
      }
      done();
    },
    flush(done) {
      if (rest) this.push(rest);
      done();
    },
  });
}
