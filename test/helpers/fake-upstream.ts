import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingMessage['headers'];
  body: string;
}

export type Reply =
  | { status?: number; json?: unknown; text?: string; headers?: Record<string, string>; delayMs?: number }
  /** Fault modes for the fault-injection tests. */
  | { fault: 'reset' | 'hang' };

export type Route = Reply | ((req: Recorded, n: number) => Reply);

/** Reads a request's body, then calls `then` with what arrived. */
export function onRequest(req: IncomingMessage, then: (rec: Recorded) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const u = new URL(req.url ?? '/', 'http://x');
    then({
      method: req.method ?? '',
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    });
  });
}

export const LOOKUP_PATH = '/v2/customers/lookup/customerDetails';

/** A customer the look-up knows by several identifiers (see FakeUpstream.customers). */
export interface LookupCustomer {
  id: number;
  mobile?: string;
  email?: string;
  external_id?: string;
}

/** An identifier as the look-up compares it: mobiles as digits, emails case-insensitively. */
const normLookup = (name: string, value: string) => {
  const v = value.trim();
  if (name === 'mobile') return v.replace(/\D/g, '');
  if (name === 'email') return v.toLowerCase();
  return v;
};
const LOOKUP_FIELD: Record<string, keyof LookupCustomer> = {
  mobile: 'mobile',
  email: 'email',
  externalId: 'external_id',
};

/**
 * The customer-details look-up every money call makes first (one customer identity): the fakes
 * answer it by themselves, and keep it out of `requests` (tests count what the API was asked to
 * do, not who the customer is). A customer in `table` is found by any of its identifiers; any
 * other identifier gets a customer id that is stable per normalised identifier.
 */
export function lookupAnswer(
  query: Record<string, string>,
  table: LookupCustomer[] = [],
): { status: number; json: unknown } {
  const name = query.identifierName ?? '';
  const value = normLookup(name, query.identifierValue ?? '');
  const field = LOOKUP_FIELD[name];
  const known =
    field && table.find((c) => c[field] !== undefined && normLookup(name, String(c[field])) === value);
  if (known) return { status: 200, json: { id: known.id, profiles: [], warnings: [] } };
  let h = 0;
  for (const ch of `${name}:${value}`) h = (h * 31 + ch.codePointAt(0)!) % 900_000;
  return { status: 200, json: { id: 100_000 + h, profiles: [], warnings: [] } };
}

/**
 * A recording fake of the Capillary API on loopback: every request is kept, and each route
 * answers what the test says (including faults). Unknown routes answer 404.
 */
export class FakeUpstream {
  readonly requests: Recorded[] = [];
  /** Customer look-ups answered by the fake itself (lookupAnswer). */
  readonly lookups: Recorded[] = [];
  /** Customers the look-up finds by any of their identifiers. */
  customers: LookupCustomer[] = [];
  private readonly routes = new Map<string, Route>();
  private readonly counts = new Map<string, number>();
  private server?: Server;
  url = '';

  on(method: string, path: string, route: Route): this {
    this.routes.set(`${method} ${path}`, route);
    return this;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    onRequest(req, (rec) => {
      const key = `${rec.method} ${rec.path}`;
      if (key === `GET ${LOOKUP_PATH}` && !this.routes.has(key)) {
        this.lookups.push(rec);
        const a = lookupAnswer(rec.query, this.customers);
        res.writeHead(a.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(a.json));
        return;
      }
      this.requests.push(rec);
      const n = (this.counts.get(key) ?? 0) + 1;
      this.counts.set(key, n);
      const route = this.routes.get(key);
      const reply: Reply = route
        ? typeof route === 'function'
          ? route(rec, n)
          : route
        : {
            status: 404,
            json: { errors: [{ status: false, code: 404, message: 'not found' }], warnings: [] },
          };
      if ('fault' in reply) {
        if (reply.fault === 'reset') req.socket.destroy();
        // 'hang': never answer; the client's timeout fires.
        return;
      }
      const text = reply.text ?? (reply.json === undefined ? '' : JSON.stringify(reply.json));
      const send = () => {
        res.writeHead(reply.status ?? 200, { 'content-type': 'application/json', ...reply.headers });
        res.end(text);
      };
      if (reply.delayMs) setTimeout(send, reply.delayMs);
      else send();
    });
  }

  count(method: string, path: string): number {
    return this.requests.filter((r) => r.method === method && r.path === path).length;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }
}

/** The documented v1.1 redeem success, for a given balance. */
export const redeemOk = (points: string, balance: number, id = 'RDM-1') => ({
  response: {
    status: { success: 'true', code: 200, message: 'Success' },
    responses: {
      points: {
        mobile: '919000000001',
        user_id: '101',
        redemption_id: id,
        points_redeemed: points,
        redeemed_value: Number(points),
        balance,
        item_status: { success: 'true', code: 800, message: 'Points Redeemed' },
      },
    },
  },
});

/** A redemption Capillary refuses: the v1.1 envelope with success "false" and the item's code. */
export const redeemRefused = (code: number, message: string) => ({
  response: {
    status: { success: 'false', code: 500, message: 'All requests have failed due to errors' },
    responses: { points: { item_status: { success: 'false', code, message } } },
  },
});

/**
 * A redeem route that behaves like Capillary's idempotency: a repeated external_reference_number
 * returns the original result and spends nothing. `spent` counts real spends.
 */
export function dedupingRedeem(opts: { first?: Reply | ((n: number) => Reply | undefined) } = {}) {
  const seen = new Map<string, unknown>();
  const state = { spent: 0, balance: 5000 };
  let n = 0;
  const route = (req: Recorded): Reply => {
    n++;
    const item = JSON.parse(req.body).root.redeem[0];
    const key = item.external_reference_number;
    const fault = typeof opts.first === 'function' ? opts.first(n) : n === 1 ? opts.first : undefined;
    if (seen.has(key)) return { json: seen.get(key) };
    const pts = Number(item.points_redeemed);
    state.spent++;
    state.balance -= pts;
    const body = redeemOk(item.points_redeemed, state.balance, `RDM-${state.spent}`);
    seen.set(key, body);
    // The fault happens after the spend was written: the response is lost.
    if (fault) return fault;
    return { json: body };
  };
  return { route, state, keys: () => [...seen.keys()] };
}
