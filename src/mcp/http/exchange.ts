import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type AuthInfo,
  createMcpHandler,
  isLegacyRequest,
  type JSONRPCMessage,
  type McpHttpHandler,
  type Server,
  WebStandardStreamableHTTPServerTransport,
} from '@modelcontextprotocol/server';
import type { App } from '../../app.js';
import { createServer } from '../server.js';
import { decodeSession, encodeSession, type Relay } from './relay.js';
import { type Msg, reply, wantsProgress } from './wire.js';

/**
 * One POST exchange of stateless Streamable HTTP, in either protocol era.
 *
 * 2026-07-28 requests (the `_meta` envelope, `server/discover`) go to the SDK's own per-request
 * handler (`createMcpHandler`, modern only), which checks the era's headers and builds a Server
 * per request. 2025-era requests get a pooled SDK Server and a fresh web-standard Streamable
 * HTTP transport, so that a tool call can still ask the human by elicitation across POSTs.
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
    return this.idle.pop() ?? createServer(this.app, 'legacy');
  }

  release(server: Server): void {
    // Closing runs the SDK's connection-closed path, which builds an error to fail pending
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
  /** The SDK's 2026-07-28 handler (see modernHandler). */
  modern: McpHttpHandler;
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
  const transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: !streamed,
    // The listener already bounds bodies (413) and sends keep-alives of its own.
    keepAliveMs: 0,
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
    const response = await transport.handleRequest(webRequest(req, body), { parsedBody: body });
    // Refused before any handler ran (406, bad protocol version...): nothing is running.
    if (response.status !== 200) finish();
    await sendResponse(res, response);
  } catch (e) {
    app.log.error('HTTP transport error', { error: e instanceof Error ? e.message : String(e) });
    if (!res.headersSent) reply(res, 500, 'Internal Server Error');
    else res.destroy();
    finish();
  }
}

/**
 * The SDK's per-request handler for the 2026-07-28 era only (`legacy: 'reject'`: 2025-era
 * requests never reach it, the listener routes them to `exchange`). It builds one Server per
 * request and checks the era's own headers (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`).
 */
export function modernHandler(app: App, maxBodyBytes: number): McpHttpHandler {
  return createMcpHandler(({ era }) => createServer(app, era), {
    legacy: 'reject',
    maxRequestBodySize: maxBodyBytes,
    keepAliveMs: 0,
    onerror: (e) => app.log.debug('MCP request refused', { error: e.message }),
  });
}

/** Whether a POST's (already parsed) body belongs to the 2026-07-28 era: the SDK's own classification. */
export async function isModern(req: IncomingMessage, body: unknown): Promise<boolean> {
  return !(await isLegacyRequest(webRequest(req, body), body));
}

/** One 2026-07-28 POST: the SDK's handler answers it; the call counts as in flight until it is answered. */
export async function modernExchange(
  ctx: ExchangeContext,
  req: IncomingMessage,
  res: ServerResponse,
  body: unknown,
): Promise<void> {
  ctx.begin();
  try {
    const response = await ctx.modern.fetch(webRequest(req, body), {
      parsedBody: body,
      authInfo: callerInfo(req),
    });
    await sendResponse(res, response);
  } catch (e) {
    ctx.app.log.error('HTTP transport error', { error: e instanceof Error ? e.message : String(e) });
    if (!res.headersSent) reply(res, 500, 'Internal Server Error');
    else res.destroy();
  } finally {
    ctx.end();
  }
}

/**
 * Who is calling, for the handlers (a confirmation's state is bound to it): a hash of the
 * Authorization header the listener accepted, never the token itself.
 */
function callerInfo(req: IncomingMessage): AuthInfo | undefined {
  const auth = req.headers.authorization;
  if (!auth) return undefined;
  const id = `bearer-sha256:${createHash('sha256').update(auth, 'utf8').digest('base64url')}`;
  return { token: id, clientId: id, scopes: [] };
}

/**
 * The web-standard Request the SDK reads: the POST's headers, its already read body (the SDK
 * takes it as parsedBody). No abort signal: a client that leaves does not cut a money call
 * short; the call finishes and is recorded in the ledger.
 */
function webRequest(req: IncomingMessage, body: unknown): Request {
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers))
    if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
  return new Request(`http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, {
    method: req.method,
    headers,
    body: JSON.stringify(body),
  });
}

/** Writes a web-standard Response (JSON, or an SSE stream as it comes) to the Node response. */
async function sendResponse(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((v, k) => {
    headers[k] = v;
  });
  res.writeHead(response.status, headers);
  res.flushHeaders();
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  // The stream is read to its end even when the client left: that is when the call is over.
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!res.destroyed) res.write(value);
  }
  res.end();
}
