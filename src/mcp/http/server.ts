import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { App } from '../../app.js';
import { ConfigError, DEFAULTS, type HttpConfig, loadHttpConfig, loadSandboxConfig } from '../../config.js';
import { CONSOLE_PATH, createConsole } from '../../console/server.js';
import type { Started } from '../../start.js';
import { initializeError } from '../server.js';
import {
  type ExchangeContext,
  exchange,
  isModern,
  modernExchange,
  modernHandler,
  ServerPool,
} from './exchange.js';
import {
  type AllowedPeers,
  allowedPeers,
  checkHostOrigin,
  HttpArgError,
  hostPort,
  isLoopback,
  isWildcard,
  parseHttpArgs,
  tokenChecker,
} from './guard.js';
import { Relay } from './relay.js';
import {
  acceptsBoth,
  isJsonContentType,
  isRequest,
  isResponse,
  JSON_HEADERS,
  type Msg,
  readBody,
  reply,
} from './wire.js';

export interface HttpServerOptions {
  /** Interface to bind; default 127.0.0.1. */
  host?: string;
  /** Port; 0 picks a free one. Default 3000. */
  port?: number;
  /** Bearer token; when set, every /mcp request must carry it. */
  token?: string;
  /** Request body limit in bytes (413 above it). Default 1 MiB. */
  maxBodyBytes?: number;
  /** Extra accepted Host header values, comma-separated (MCP_ALLOWED_HOSTS). */
  allowedHosts?: string;
}

export interface HttpServerHandle {
  url: string;
  host: string;
  port: number;
  /** Whether a bearer token is required. */
  auth: boolean;
  /** Requests being answered and tool calls still running. */
  inFlight(): number;
  /**
   * Graceful stop: no new connections, new requests get 503 (answers to pending elicitations
   * are still taken), in-flight calls may finish for up to timeoutMs, then every connection is
   * closed. Resolves true when everything finished in time.
   */
  drain(timeoutMs: number): Promise<boolean>;
  /** Immediate stop (drain with no grace). */
  close(): Promise<void>;
}

const OK_BODY = '{"status":"ok","ledger":"ok"}';
const LEDGER_DOWN_BODY = '{"status":"unavailable","ledger":"unavailable"}';
const DRAINING_BODY = '{"status":"draining"}';

function health(res: ServerResponse, head: boolean, ok: boolean): void {
  const body = ok ? OK_BODY : LEDGER_DOWN_BODY;
  res.writeHead(ok ? 200 : 503, {
    ...JSON_HEADERS,
    'content-length': body.length,
    'cache-control': 'no-store',
  });
  res.end(head ? undefined : body);
}

/**
 * Serves MCP over stateless Streamable HTTP at POST /mcp: one SDK Server and transport per
 * POST, all sharing the one App (ledger, locks, HTTP client). See relay.ts for how a tool
 * call's elicitation is answered across POSTs, and exchange.ts for one POST.
 */
export async function startHttpServer(app: App, opts: HttpServerOptions = {}): Promise<HttpServerHandle> {
  const bindHost = opts.host ?? '127.0.0.1';
  const maxBody = opts.maxBodyBytes ?? DEFAULTS.httpMaxBodyBytes;
  const checkToken = tokenChecker(opts.token);
  const relay = new Relay();
  const pool = new ServerPool(app);
  // The approval page and operator console, on this listener under /console/ (own sign-in).
  const consolePages = createConsole(app);
  let allowed: AllowedPeers = { hosts: new Set(), origins: new Set() };
  let draining = false;
  /** HTTP requests not yet closed, plus tool calls still running after their client left. */
  let busy = 0;
  let idleWaiters: Array<() => void> = [];
  const settle = () => {
    if (--busy === 0 && idleWaiters.length) {
      const w = idleWaiters;
      idleWaiters = [];
      for (const f of w) f();
    }
  };
  const modern = modernHandler(app, maxBody);
  const ctx: ExchangeContext = {
    app,
    relay,
    pool,
    modern,
    begin: () => {
      busy++;
    },
    end: settle,
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    busy++;
    res.once('close', settle);
    const bad = checkHostOrigin(allowed, req.headers.host, req.headers.origin);
    if (bad) return reply(res, 403, bad);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path === '/healthz') {
      if (req.method !== 'GET' && req.method !== 'HEAD')
        return reply(res, 405, 'Method Not Allowed', { allow: 'GET, HEAD' });
      if (draining) {
        res.writeHead(503, {
          ...JSON_HEADERS,
          'content-length': DRAINING_BODY.length,
          'cache-control': 'no-store',
          connection: 'close',
        });
        res.end(req.method === 'HEAD' ? undefined : DRAINING_BODY);
        return;
      }
      // The ledger's state: without it no money call can be taken (ledger_unavailable).
      void app.store.health().then(
        (h) => health(res, req.method === 'HEAD', h.ok),
        () => health(res, req.method === 'HEAD', false),
      );
      return;
    }
    if (path === CONSOLE_PATH || path.startsWith(`${CONSOLE_PATH}/`)) return consolePages.handle(req, res);
    if (path !== '/mcp') return reply(res, 404, 'Not Found');
    if (checkToken && !checkToken(req.headers.authorization))
      return reply(res, 401, 'Unauthorized: missing or invalid bearer token', {
        'www-authenticate': 'Bearer',
      });
    if (req.method !== 'POST')
      return reply(res, 405, 'Method Not Allowed: this server is stateless; send JSON-RPC with POST', {
        allow: 'POST',
      });
    if (!acceptsBoth(req.headers.accept))
      return reply(
        res,
        406,
        'Not Acceptable: Client must accept both application/json and text/event-stream',
      );
    if (!isJsonContentType(req.headers['content-type']))
      return reply(res, 415, 'Unsupported Media Type: Content-Type must be application/json');
    void readBody(req, maxBody).then((body) => {
      if (!body.ok) {
        if (body.tooLarge)
          reply(res, 413, `Payload Too Large: the body must not exceed ${maxBody} bytes`, {
            connection: 'close',
          });
        else res.destroy();
        return;
      }
      return post(req, res, body.text);
    });
  };

  const post = async (req: IncomingMessage, res: ServerResponse, text: string): Promise<void> => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return reply(res, 400, 'Parse error: Invalid JSON', undefined, -32700);
    }
    const list = (Array.isArray(parsed) ? parsed : [parsed]) as Msg[];
    let requests = 0;
    let responses = 0;
    for (const m of list) {
      if (!m || typeof m !== 'object' || Array.isArray(m) || m.jsonrpc !== '2.0')
        return reply(res, 400, 'Invalid Request: not a JSON-RPC 2.0 message', undefined, -32600);
      if (isRequest(m)) requests++;
      else if (isResponse(m)) responses++;
      else if (typeof m.method !== 'string')
        return reply(res, 400, 'Invalid Request: not a JSON-RPC 2.0 message', undefined, -32600);
    }
    if (list.length === 0) return reply(res, 400, 'Invalid Request: empty batch', undefined, -32600);
    // A malformed initialize is invalid params, answered here (the SDK would call it internal).
    const refusal = list.length === 1 ? initializeError(list[0]) : undefined;
    if (refusal) {
      const out = JSON.stringify(refusal);
      res.writeHead(200, { ...JSON_HEADERS, 'content-length': Buffer.byteLength(out) });
      res.end(out);
      return;
    }
    const sessionHeader = req.headers['mcp-session-id'];
    const session = typeof sessionHeader === 'string' ? sessionHeader : undefined;

    // Answers to the server's own requests (elicitation) go to the transport that asked.
    let unknown = 0;
    if (responses)
      for (const m of list) if (isResponse(m) && !relay.answer(m as { id: unknown }, session)) unknown++;
    if (requests === 0) {
      // Responses and notifications only. Notifications (initialized, cancelled) have nothing to
      // act on in a stateless server: a cancelled call still finishes and is recorded in the ledger.
      if (unknown) return reply(res, 400, 'Bad Request: unknown or expired response id');
      res.writeHead(202).end();
      return;
    }
    if (draining)
      return reply(res, 503, 'Service Unavailable: the server is shutting down', {
        connection: 'close',
        'retry-after': '1',
      });
    const forSdk = responses ? list.filter((m) => !isResponse(m)) : parsed;
    // A 2026-07-28 request (the per-request `_meta` envelope) carries everything it needs: the
    // SDK's handler answers it. Anything else is the 2025 era, with initialize and elicitation.
    if (!responses && (await isModern(req, forSdk))) return modernExchange(ctx, req, res, forSdk);
    await exchange(ctx, req, res, forSdk, list, requests, session);
  };

  // Keep-alive longer than the usual 60 s idle timeout of load balancers in front, so they, not
  // the server, close idle connections (no race on a reused connection).
  const httpServer = createHttpServer({ keepAliveTimeout: 65_000, headersTimeout: 66_000 }, handle);
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(opts.port ?? 3000, bindHost, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  const port = (httpServer.address() as AddressInfo).port;
  allowed = allowedPeers(bindHost, port, opts.allowedHosts);
  const shownHost = isWildcard(bindHost) ? '127.0.0.1' : bindHost;
  app.console = { url: app.config.consoleUrl ?? `http://${hostPort(shownHost, port)}${CONSOLE_PATH}` };

  let closed: Promise<void> | undefined;
  const stop = () => {
    closed ??= new Promise<void>((resolve) => {
      void modern.close();
      httpServer.close(() => resolve());
      httpServer.closeAllConnections();
    });
    return closed;
  };

  /**
   * Stops accepting connections and closes idle keep-alive ones. While a call waits for a
   * human's answer the listener stays open (everything but that answer gets 503), or the
   * answer, which usually comes on a new connection, could never arrive.
   */
  let listening = true;
  const stopListening = () => {
    if (!listening) return;
    listening = false;
    httpServer.close();
    httpServer.closeIdleConnections();
  };
  relay.onEmpty = () => {
    if (draining) stopListening();
  };

  const drain = async (timeoutMs: number): Promise<boolean> => {
    draining = true;
    pool.close();
    if (relay.size === 0) stopListening();
    let timer: NodeJS.Timeout | undefined;
    const inTime =
      busy === 0 ||
      (await new Promise<boolean>((resolve) => {
        idleWaiters.push(() => resolve(true));
        timer = setTimeout(() => resolve(false), timeoutMs);
      }));
    clearTimeout(timer);
    if (!inTime) relay.fail(relay.all(), 'server shutting down');
    stopListening();
    await stop();
    return inTime;
  };

  return {
    url: `http://${hostPort(shownHost, port)}/mcp`,
    host: bindHost,
    port,
    auth: !!checkToken,
    inFlight: () => busy,
    drain,
    close: async () => {
      await drain(0);
    },
  };
}

/** `capillary-loyalty-mcp --http [--port N] [--host H]`: serve until SIGTERM/SIGINT, then drain and exit 0. */
export async function runHttp(
  argv: string[],
  start: () => Promise<Started>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  let args: { host: string; port: number };
  try {
    args = parseHttpArgs(argv);
  } catch (e) {
    if (e instanceof HttpArgError) throw new ConfigError([e.message]);
    throw e;
  }
  const problems: string[] = [];
  let http: HttpConfig | undefined;
  try {
    http = loadHttpConfig(env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    problems.push(...e.problems);
  }
  const token = http?.token;
  if (!isLoopback(args.host) && !token)
    problems.push(
      `--host ${args.host} is not a loopback address, so MCP_HTTP_TOKEN must be set: refusing to serve money-moving tools to the network without a bearer token`,
    );
  if (problems.length || !http) throw new ConfigError(problems);
  const { maxBodyBytes, shutdownMs } = http;

  const started = await start();
  let handle: HttpServerHandle;
  try {
    handle = await startHttpServer(started.app, {
      ...args,
      token,
      maxBodyBytes,
      allowedHosts: http.allowedHosts,
    });
  } catch (e) {
    await started.close();
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE')
      throw new ConfigError([`port ${args.port} on ${args.host} is already in use (--port)`]);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND')
      throw new ConfigError([`cannot bind --host ${args.host} (${code})`]);
    throw e;
  }
  await printBanner(started, handle, env, http, !!token && token.length < 16);

  let stopping = false;
  let forced: (() => void) | undefined;
  const shutdown = async (why: string) => {
    if (stopping) {
      started.app.log.warn(`${why} again: not waiting for in-flight requests any longer`);
      forced?.();
      return;
    }
    stopping = true;
    started.app.log.info(`shutting down (${why}): finishing in-flight requests (up to ${shutdownMs} ms)`);
    const inTime = await Promise.race([
      handle.drain(shutdownMs),
      new Promise<boolean>((r) => {
        forced = () => r(false);
      }),
    ]);
    if (!inTime) {
      started.app.log.warn('shutdown: in-flight requests did not finish in time and were cut off');
      await handle.close();
    }
    try {
      await started.close();
    } catch (e) {
      started.app.log.error('shutdown: closing the ledger/audit log failed', { error: String(e) });
      process.exit(1);
    }
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

async function printBanner(
  started: Started,
  h: HttpServerHandle,
  env: NodeJS.ProcessEnv,
  http: HttpConfig,
  shortToken: boolean,
): Promise<void> {
  const sandboxCfg = loadSandboxConfig(env);
  const lines = [`capillary-loyalty-mcp: serving MCP over Streamable HTTP at ${h.url}`];
  lines.push(
    h.auth
      ? '  auth: bearer token required (MCP_HTTP_TOKEN)'
      : '  auth: off (loopback only; set MCP_HTTP_TOKEN to require a bearer token)',
  );
  if (started.app.console)
    lines.push(
      `  operator console and approval page: ${started.app.console.url}/ (operator token: CAPILLARY_OPERATOR_TOKEN, or \`capillary-loyalty-mcp operator-token\`)`,
    );
  if (shortToken)
    lines.push('  warning: MCP_HTTP_TOKEN is shorter than 16 characters; use a long random token');
  if (isWildcard(h.host) && !http.allowedHosts)
    lines.push(
      `  note: bound to every interface; only loopback Host headers are accepted until MCP_ALLOWED_HOSTS lists the name(s) clients use`,
    );
  if (started.sandboxUrl) {
    let customers = '';
    if (!sandboxCfg.seed) {
      try {
        const { DEFAULT_SEED } = await import('../../sandbox/index.js');
        // With a state file the balances may have moved since the seed: mobiles only then.
        const fresh = !sandboxCfg.statePath;
        customers = DEFAULT_SEED.customers
          .slice(0, 4)
          .map((c) => (fresh ? `${c.mobile} (${c.points} pts)` : c.mobile))
          .join(', ');
      } catch {}
    }
    lines.push(
      `  sandbox: SIMULATED Capillary API, no real points move${customers ? `; test customers: ${customers}, more in the README` : ''}`,
    );
  }
  process.stderr.write(started.app.redactor.text(`${lines.join('\n')}\n`));
}
