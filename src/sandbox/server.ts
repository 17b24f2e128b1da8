/**
 * HTTP front of the sandbox (node:http): routing, auth, body reading, replies.
 * Keep-alive friendly: every reply has a content-length and connections are kept open
 * (except for the lost_response fault, which destroys the socket on purpose).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorFor, type Reply, type SandboxCore, type Version } from './core.js';
import { balance, customerDetails } from './endpoints/customers.js';
import { authenticate, oauthGenerate } from './endpoints/oauth.js';
import { redeem } from './endpoints/redeem.js';
import { isRedeemable } from './endpoints/redeemable.js';
import { reverse } from './endpoints/reverse.js';
import { unlockPromisedPoints } from './endpoints/unlock.js';
import { updateRedemption } from './endpoints/update.js';
import { validationCode } from './endpoints/validation-code.js';
import { workflowCreate, workflowDecide, workflowGet, workflowHeaders } from './endpoints/workflow.js';
import { parseJsonExact } from './exact-json.js';
import { computeStats } from './stats.js';

const MAX_BODY = 1024 * 1024;
const WORKFLOW_PATH = '/api_gateway/v2/request-workflow/POINTS-REDEMPTION';
const WORKFLOW_REQUESTS_PREFIX = '/api_gateway/v2/request-workflow/requests/';
/** The sandbox's own debug path (not Capillary's): what was committed. No auth, loopback callers only. */
export const STATS_PATH = '/__sandbox/stats';

/** true for a loopback peer address (127.0.0.0/8, ::1, and IPv4-mapped 127.x). */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

type Handler = (ctx: Ctx) => Reply;
interface Ctx {
  query: URLSearchParams;
  body: unknown;
  pathParam?: string;
}
interface Route {
  version: Version;
  /** true: no auth at all (oauth token endpoint, the debug path) */
  open?: boolean;
  /** answers loopback callers only (the debug path) */
  loopbackOnly?: boolean;
  /** needs the request-workflow headers as well */
  workflow?: boolean;
  methods: Record<string, Handler>;
}

export function createRequestListener(core: SandboxCore, onRequest: () => void) {
  const routes = new Map<string, Route>([
    ['/v1.1/points/redeem', { version: 'v1', methods: { POST: (c) => redeem(core, c.query, c.body) } }],
    ['/v1.1/points/isredeemable', { version: 'v1', methods: { GET: (c) => isRedeemable(core, c.query) } }],
    [
      '/v1.1/points/validationcode',
      { version: 'v1', methods: { GET: (c) => validationCode(core, c.query) } },
    ],
    [
      '/v2/points/updateRedemption',
      { version: 'v2', methods: { PUT: (c) => updateRedemption(core, c.body) } },
    ],
    [
      '/v2/points/unlockPromisedPoints',
      { version: 'v2', methods: { POST: (c) => unlockPromisedPoints(core, c.query, c.body) } },
    ],
    ['/v2/points/reverse', { version: 'v2', methods: { POST: (c) => reverse(core, c.body) } }],
    [
      '/v2/customers/lookup/points/balance',
      { version: 'v2', methods: { GET: (c) => balance(core, c.query) } },
    ],
    [
      '/v2/customers/lookup/customerDetails',
      { version: 'v2', methods: { GET: (c) => customerDetails(core, c.query) } },
    ],
    [
      '/v3/oauth/token/generate',
      { version: 'v2', open: true, methods: { POST: (c) => oauthGenerate(core, c.body) } },
    ],
    [
      WORKFLOW_PATH,
      {
        version: 'v2',
        workflow: true,
        methods: { POST: (c) => workflowCreate(core, c.body), PUT: (c) => workflowDecide(core, c.body) },
      },
    ],
    [
      STATS_PATH,
      {
        version: 'v2',
        open: true,
        loopbackOnly: true,
        methods: { GET: () => ({ status: 200, body: JSON.stringify(computeStats(core.store)) }) },
      },
    ],
  ]);
  const requestsRoute: Route = {
    version: 'v2',
    workflow: true,
    methods: { GET: (c) => workflowGet(core, c.pathParam ?? '') },
  };

  const send = (req: IncomingMessage, res: ServerResponse, r: Reply) => {
    if (r.destroy) {
      // the write already happened; the client never hears about it
      req.socket.destroy();
      return;
    }
    const headers: Record<string, string | number> = {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(r.body),
    };
    if (r.headers) Object.assign(headers, r.headers);
    res.writeHead(r.status, headers);
    res.end(r.body);
  };

  return (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    const qi = url.indexOf('?');
    let path = qi < 0 ? url : url.slice(0, qi);
    if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
    if (path !== STATS_PATH) onRequest(); // the count is of Capillary requests, not of debug reads
    const query = new URLSearchParams(qi < 0 ? '' : url.slice(qi + 1));
    const method = (req.method ?? 'GET').toUpperCase();

    let route = routes.get(path);
    let pathParam: string | undefined;
    if (!route && path.startsWith(WORKFLOW_REQUESTS_PREFIX)) {
      const rest = path.slice(WORKFLOW_REQUESTS_PREFIX.length);
      if (rest !== '' && !rest.includes('/')) {
        route = requestsRoute;
        try {
          pathParam = decodeURIComponent(rest);
        } catch {
          pathParam = rest;
        }
      }
    }

    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      let r: Reply;
      try {
        r = dispatch();
      } catch (err) {
        r = errorFor(
          route?.version ?? (path.startsWith('/v1.1/') ? 'v1' : 'v2'),
          500,
          500,
          `Internal sandbox error: ${(err as Error).message}`,
        );
      }
      send(req, res, r);
    });
    req.on('error', () => req.socket.destroy());

    function dispatch(): Reply {
      const version: Version = route?.version ?? (path.startsWith('/v1.1/') ? 'v1' : 'v2');
      if (!route) return errorFor(version, 404, 404, `Not found: ${method} ${path}`);
      const handler = route.methods[method];
      if (!handler) {
        const r = errorFor(version, 405, 405, `Method ${method} not allowed on ${path}`);
        return { ...r, headers: { allow: Object.keys(route.methods).join(', ') } };
      }
      if (route.loopbackOnly && !isLoopback(req.socket.remoteAddress)) {
        return errorFor(
          version,
          403,
          403,
          'Forbidden: this sandbox debug path answers loopback callers only',
        );
      }
      const get = (name: string) => {
        const v = req.headers[name];
        return Array.isArray(v) ? v[0] : v;
      };
      if (!route.open) {
        if (!authenticate(core, get)) return errorFor(version, 401, 401, 'Unauthorized');
        if (route.workflow) {
          const w = workflowHeaders(get);
          if (w) return w;
        }
      }
      if (tooLarge) return errorFor(version, 413, 413, 'Request body too large');
      let body: unknown;
      if (chunks.length > 0) {
        const text = Buffer.concat(chunks).toString('utf8');
        if (text.trim() !== '') {
          try {
            body = parseJsonExact(text);
          } catch {
            return errorFor(version, 400, 400, 'Invalid JSON body');
          }
        }
      }
      return handler({ query, body, pathParam });
    }
  };
}
