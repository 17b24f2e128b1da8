import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { App } from '../../app.js';
import { createServer } from '../server.js';
import { decodeSession, encodeSession, type Relay } from './relay.js';
import { type Msg, reply, wantsProgress } from './wire.js';

/**
 * One POST exchange of stateless Streamable HTTP: a pooled SDK Server and a fresh
 * StreamableHTTPServerTransport answer the requests of one POST, over the shared App.
 *
 * This is the ONLY file in the repository allowed to touch SDK internals, i.e. anything outside
 * the SDK's public, documented API. It does so three ways, all marked `SDK internal` below:
 * - it sets the Server's private `_clientCapabilities` (a per-POST Server never saw `initialize`);
 * - it wraps `transport.send` to renumber the server's own requests (elicitation) for the relay;
 * - it feeds the client's answers, which arrive on another POST, in through `transport.onmessage`.
 * test/unit/sdk-internals.test.ts fails when any other file under src/ does any of these; an SDK
 * upgrade needs checking here and nowhere else.
 */

const MAX_IDLE_SERVERS = 256;

/**
 * Idle Servers. The SDK forbids reusing a stateless transport, but a Server may connect to a
 * new transport once closed; building one costs far more than a request (its constructor
 * sets up a JSON Schema validator), so finished Servers are closed and kept for the next POST.
 */
export class ServerPool {
  private readonly idle: Server[] = [];
  private closed = false;

  constructor(private readonly app: App) {}

  take(): Server {
    return this.idle.pop() ?? createServer(this.app);
  }

  release(server: Server): void {
    // Closing runs the SDK's connection-closed path, which builds an McpError to fail pending
    // requests (there are none once a POST is answered): without a stack trace it costs far less.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    let closed: Promise<void>;
    try {
      closed = server.close();
    } finally {
      Error.stackTraceLimit = limit;
    }
    closed.then(
      () => {
        if (!this.closed && this.idle.length < MAX_IDLE_SERVERS) this.idle.push(server);
      },
      () => {},
    );
  }

  /** Keeps no more Servers (the listener is draining). */
  close(): void {
    this.closed = true;
  }
}

export interface ExchangeContext {
  app: App;
  relay: Relay;
  pool: ServerPool;
  /** Counts a running exchange as in flight, until `end` (which may come after its client left). */
  begin(): void;
  end(): void;
}

/**
 * One POST that carries requests: a Server from the pool and a fresh transport. `body` is what
 * the SDK should see (the POST minus any responses already routed to the relay), `list` every
 * message of the POST, `requests` how many of them are requests.
 */
export async function exchange(
  ctx: ExchangeContext,
  req: IncomingMessage,
  res: ServerResponse,
  body: unknown,
  list: Msg[],
  requests: number,
  session: string | undefined,
): Promise<void> {
  const { app, relay, pool } = ctx;
  const init = list.find((m) => m.method === 'initialize') as
    | { params?: { capabilities?: unknown } }
    | undefined;
  if (init) {
    const sid = encodeSession(init.params?.capabilities);
    if (sid) res.setHeader('mcp-session-id', sid);
  }
  const server = pool.take();
  // The per-POST Server never saw initialize: give it what the client declared then (or
  // nothing, which also clears what a previous POST on this pooled Server set).
  const caps = decodeSession(session);
  // SDK internal: the Server's private client capabilities.
  (server as unknown as { _clientCapabilities: unknown })._clientCapabilities = caps;
  // The answer is an SSE stream when something may come before it on this POST: the server
  // asking the human (the client declared form elicitation) or progress (a request asked for it).
  // Those are the only messages the server sends a client unasked (src/mcp/server.ts). Otherwise
  // it is plain JSON, which spares the SDK a stream per POST.
  const streamed = !!caps?.elicitation?.form || list.some(wantsProgress);
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: !streamed,
  });
  let open = requests;
  let owned: Set<string> | undefined;
  ctx.begin();
  let running = true;
  const finish = () => {
    if (!running) return;
    running = false;
    if (owned) for (const w of owned) relay.forget(w);
    ctx.end();
    // Back to the pool once the SDK has finished with this request (after this tick).
    setImmediate(() => pool.release(server));
  };
  // SDK internal: the transport's send is wrapped, and answers are fed in through onmessage.
  const send = transport.send.bind(transport);
  transport.send = (msg: JSONRPCMessage, options) => {
    const m = msg as Msg;
    if (typeof m.method === 'string') {
      if ('id' in m) {
        owned ??= new Set();
        const wire = relay.register({
          id: m.id as string | number,
          session,
          deliver: (r) => transport.onmessage?.(r),
        });
        owned.add(wire);
        msg = { ...msg, id: wire } as JSONRPCMessage;
      } else if (m.method === 'notifications/cancelled' && owned) {
        const params = m.params as { requestId?: string | number } | undefined;
        const wire = params?.requestId === undefined ? undefined : relay.wireId(owned, params.requestId);
        if (wire) {
          relay.forget(wire);
          owned.delete(wire);
          msg = { ...msg, params: { ...params, requestId: wire } } as JSONRPCMessage;
        }
      }
    } else if (--open === 0) {
      // The last response of this POST: after it is handed over, the exchange is over.
      return send(msg, options).finally(finish);
    }
    return send(msg, options);
  };
  res.once('close', () => {
    // The client left while the server waited on it: end those waits, so the call ends.
    if (running && owned?.size) relay.fail(owned, 'client disconnected');
  });
  try {
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  } catch (e) {
    app.log.error('HTTP transport error', { error: e instanceof Error ? e.message : String(e) });
    if (!res.headersSent) reply(res, 500, 'Internal Server Error');
    else res.destroy();
    finish();
  }
  // Refused before any handler ran (406, bad protocol version...): nothing is running.
  if (res.statusCode !== 200) finish();
}
