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
  | { fault: 'reset' | 'hang' }
  /** A body that never ends: `chunk` written again and again (every `intervalMs`, or as fast as it drains). */
  | { endless: { chunk: string; intervalMs?: number; status?: number } };

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

/**
 * A recording fake of the Capillary API on loopback: every request is kept, and each route
 * answers what the test says (including faults). Unknown routes answer 404.
 */
export class FakeUpstream {
  readonly requests: Recorded[] = [];
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
      this.requests.push(rec);
      const key = `${rec.method} ${rec.path}`;
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
      if ('endless' in reply) {
        const { chunk, intervalMs, status } = reply.endless;
        res.writeHead(status ?? 200, { 'content-type': 'application/json' });
        const more = () => {
          // Until the client goes away: as fast as the socket drains, or one chunk per interval.
          while (!res.destroyed && res.write(chunk) && !intervalMs);
          if (res.destroyed) return;
          if (intervalMs) setTimeout(more, intervalMs);
          else res.once('drain', more);
        };
        res.on('close', () => res.removeAllListeners('drain'));
        more();
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
