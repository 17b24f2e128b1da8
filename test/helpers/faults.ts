import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { LOOKUP_PATH, lookupAnswer, onRequest, type Recorded } from './fake-upstream.js';

/**
 * A fault-injecting stand-in for Capillary on loopback, for the reliability suites.
 *
 * `FaultUpstream` is the HTTP server: it records every request, emits `request` when a request's
 * body has been read and `responded` when its answer left (or its connection was cut), and asks a
 * handler what to do. `FakeCapillary` is a stateful handler for all nine tools' endpoints plus the
 * OAuth token endpoint, with Capillary's idempotency (a repeated external_reference_number replays
 * the first answer and spends nothing), so tests can count real spends.
 */

export interface Rec extends Recorded {
  /** 1-based arrival number, over all routes. */
  seq: number;
}

export type Answer =
  | { status?: number; json?: unknown; text?: string; headers?: Record<string, string>; delayMs?: number }
  /** Destroys the connection after the request body was read, without any response. */
  | { fault: 'reset'; delayMs?: number }
  /** Never answers (the client's timeout fires); the socket is closed by close(). */
  | { fault: 'hang' }
  /** Sends the status line, headers and the first `cut` bytes of the body, then destroys the socket. */
  | { fault: 'partial'; status?: number; text: string; cut: number };

export type Handler = (req: Rec, n: number) => Answer | Promise<Answer>;

export class FaultUpstream extends EventEmitter {
  readonly requests: Rec[] = [];
  /** Customer look-ups answered by the fake itself (lookupAnswer), unless the handler takes them. */
  readonly lookups: Recorded[] = [];
  ownLookups = false;
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly perRoute = new Map<string, number>();
  url = '';

  constructor(public handler: Handler) {
    super();
    this.setMaxListeners(1000);
  }

  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((r) => this.server!.listen(port, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    onRequest(req, async (arrived) => {
      if (arrived.method === 'GET' && arrived.path === LOOKUP_PATH && !this.ownLookups) {
        this.lookups.push(arrived);
        const a = lookupAnswer(arrived.query);
        res.writeHead(a.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(a.json));
        return;
      }
      const rec: Rec = { ...arrived, seq: this.requests.length + 1 };
      this.requests.push(rec);
      const route = `${rec.method} ${rec.path}`;
      const n = (this.perRoute.get(route) ?? 0) + 1;
      this.perRoute.set(route, n);
      this.emit('request', rec);
      let a: Answer;
      try {
        a = await this.handler(rec, n);
      } catch (e) {
        a = { status: 599, text: `fake handler failed: ${String(e)}` };
      }
      const done = () => this.emit('responded', rec);
      if ('fault' in a) {
        if (a.fault === 'hang') return;
        if (a.fault === 'reset') {
          const cut = () => {
            req.socket.destroy();
            done();
          };
          if (a.delayMs) setTimeout(cut, a.delayMs);
          else cut();
          return;
        }
        const buf = Buffer.from(a.text);
        res.writeHead(a.status ?? 200, {
          'content-type': 'application/json',
          'content-length': String(buf.length),
        });
        res.write(buf.subarray(0, a.cut), () => {
          setTimeout(() => {
            req.socket.destroy();
            done();
          }, 5);
        });
        return;
      }
      const text = a.text ?? (a.json === undefined ? '' : JSON.stringify(a.json));
      const send = () => {
        if (req.socket.destroyed) return done();
        res.on('finish', done);
        res.writeHead(a.status ?? 200, { 'content-type': 'application/json', ...a.headers });
        res.end(text);
      };
      if (a.delayMs) setTimeout(send, a.delayMs);
      else send();
    });
  }

  count(method: string, path?: string): number {
    return this.requests.filter((r) => r.method === method && (path === undefined || r.path === path)).length;
  }

  /** Resolves with the first request (already received or future) that matches. */
  waitFor(pred: (r: Rec) => boolean, timeoutMs = 10_000): Promise<Rec> {
    const have = this.requests.find(pred);
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.off('request', on);
        reject(new Error(`no matching request within ${timeoutMs} ms`));
      }, timeoutMs);
      const on = (r: Rec) => {
        if (!pred(r)) return;
        clearTimeout(t);
        this.off('request', on);
        resolve(r);
      };
      this.on('request', on);
    });
  }

  /** Closes keep-alive connections that carry no request now (they stay open 60 s otherwise). */
  closeIdle(): void {
    this.server?.closeIdleConnections();
  }

  /** Drops every open connection (hung requests included) and stops listening. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
    this.server = undefined;
  }
}

export const md5hex = (s: string) => createHash('md5').update(s).digest('hex');
export const basicHeader = (user: string, pass: string) =>
  `Basic ${Buffer.from(`${user}:${md5hex(pass)}`).toString('base64')}`;

const v11 = (success: boolean, code: number, message: string) => ({
  success: String(success),
  code,
  message,
});
const v2err = (code: number, message: string) => ({
  errors: [{ status: false, code, message }],
  warnings: [],
});
const unauthorized = (path: string): Answer => ({
  status: 401,
  json: path.startsWith('/v1.1/')
    ? { response: { status: v11(false, 401, 'Unauthorized') } }
    : v2err(401, 'Unauthorized'),
});

export interface Spend {
  key: string;
  points: string;
  customer: Record<string, string>;
  notes?: string;
  /** 'redeem' (POST /v1.1/points/redeem) or 'request' (maker-checker filing). */
  kind: 'redeem' | 'request';
}

/**
 * A stateful fake Capillary. Credentials are checked (Basic, or an issued OAuth token), every
 * endpoint answers in the documented success shape, and redeem / workflow filing deduplicate by
 * external_reference_number the way Capillary's idempotency page says.
 */
export class FakeCapillary {
  /** Real spends, in order: one per distinct external_reference_number. */
  readonly spends: Spend[] = [];
  /** Reversals applied (the reverse API has no key: each one counts). */
  readonly reversals: Array<{ redemptionId: string; points?: string }> = [];
  readonly issuedTokens: string[] = [];
  private readonly byKey = new Map<string, string>();
  private readonly validTokens = new Set<string>();
  balance = 1_000_000_000;

  constructor(
    readonly auth: { basic?: string; oauth?: { key: string; secret: string; tokenPrefix?: string } },
    readonly workflow: { orgId?: string; uiToken?: string } = {},
  ) {}

  /** Makes every issued token invalid (as if it expired upstream): the next call gets 401. */
  expireTokens(): void {
    this.validTokens.clear();
  }

  /** How many logical operations (by a tag in notes) were spent more than once. */
  doubleSpends(tagOf: (s: Spend) => string | undefined = (s) => s.notes): number {
    const keys = new Map<string, Set<string>>();
    for (const s of this.spends) {
      const tag = tagOf(s);
      if (tag === undefined) continue;
      keys.set(tag, (keys.get(tag) ?? new Set()).add(s.key));
    }
    return [...keys.values()].filter((k) => k.size > 1).length;
  }

  private authorized(req: Rec): boolean {
    const tok = req.headers['x-cap-api-oauth-token'] ?? req.headers['cap-api-access-token'];
    if (tok !== undefined) return typeof tok === 'string' && this.validTokens.has(tok);
    return !!this.auth.basic && req.headers.authorization === this.auth.basic;
  }

  readonly handle: Handler = (req) => {
    const p = req.path;
    if (req.method === 'POST' && p === '/v3/oauth/token/generate') {
      const o = this.auth.oauth;
      let body: any;
      try {
        body = JSON.parse(req.body);
      } catch {}
      if (!o || body?.key !== o.key || body?.secret !== o.secret)
        return {
          status: 401,
          json: { data: null, errors: [{ status: false, code: 401, message: 'Invalid key or secret' }] },
        };
      const tok = `${o.tokenPrefix ?? 'tok'}-${this.issuedTokens.length + 1}-${randomBytes(6).toString('hex')}`;
      this.issuedTokens.push(tok);
      this.validTokens.add(tok);
      return { json: { data: { accessToken: tok, ttlSeconds: 300 }, errors: null } };
    }
    if (!this.authorized(req)) return unauthorized(p);
    if (p.startsWith('/api_gateway/')) {
      if (this.workflow.orgId && req.headers['x-cap-api-auth-org-id'] !== this.workflow.orgId)
        return { status: 403, json: v2err(403, 'Forbidden: no access to this organization') };
      if (this.workflow.uiToken && req.headers['x-cap-ui-auth-token'] !== this.workflow.uiToken)
        return unauthorized(p);
    }
    const route = `${req.method} ${p}`;
    switch (route) {
      case 'POST /v1.1/points/redeem':
        return this.redeem(req);
      case 'POST /api_gateway/v2/request-workflow/POINTS-REDEMPTION':
        return this.file(req);
      case 'GET /v1.1/points/isredeemable':
        return {
          json: {
            response: {
              status: v11(true, 200, 'Success'),
              points: {
                redeemable: {
                  points: Number(req.query.points),
                  is_redeemable: 'true',
                  points_redeem_value: Number(req.query.points),
                  item_status: v11(true, 800, 'Points can be redeemed'),
                },
              },
            },
          },
        };
      case 'GET /v1.1/points/validationcode':
        return {
          json: {
            response: {
              status: v11(true, 200, 'Operation Successful'),
              validation_code: {
                code: {
                  points: Number(req.query.points),
                  item_status: v11(true, 200, 'Validation Code Issued by SMS'),
                },
              },
            },
          },
        };
      case 'GET /v2/customers/lookup/points/balance':
        return {
          json: {
            data: { customerId: 101, loyaltyPoints: this.balance, promisedPoints: 0, promised: [] },
            errors: [],
            warnings: [],
          },
        };
      case 'PUT /v2/points/updateRedemption': {
        const billId = /"billId"\s*:\s*(\d+)/.exec(req.body)?.[1] ?? '-1';
        let b: any = {};
        try {
          b = JSON.parse(req.body);
        } catch {}
        return {
          text: `{"id":396001,"pointsRedeemed":100,"billId":${billId},"billNumber":${JSON.stringify(b.billNumber ?? '')},"redemptionId":${JSON.stringify(b.redemptionId ?? 'r1')},"externalReferenceNumber":${JSON.stringify(b.externalReferenceNumber ?? '')},"customerId":101,"redemptionPurpose":${JSON.stringify(b.purpose ?? '')},"warnings":[]}`,
        };
      }
      case 'POST /v2/points/unlockPromisedPoints':
        return {
          json: {
            pointsUnlocked: [{ billNumber: 'B-1', pointsUnlocked: 12.5, programId: 1 }],
            errors: [],
            warnings: [],
          },
        };
      case 'POST /v2/points/reverse': {
        let b: any = {};
        try {
          b = JSON.parse(req.body);
        } catch {}
        this.reversals.push({ redemptionId: b.redemptionId, points: b.pointsToBeReversed });
        return {
          json: {
            redemptionId: b.redemptionId,
            pointsReversed: Number(b.pointsToBeReversed ?? 10),
            reversalId: `rev${this.reversals.length}`,
            balance: this.balance,
            warnings: [],
            errors: [],
          },
        };
      }
    }
    if (req.method === 'GET' && p.startsWith('/api_gateway/v2/request-workflow/requests/'))
      return {
        json: {
          data: {
            requestId: decodeURIComponent(p.split('/').pop() ?? ''),
            requestType: 'points-redemption',
            state: 'AdminTask',
            startTime: '2025-01-01T10:00:00',
            endTime: null,
            result: null,
          },
        },
      };
    return { status: 404, json: v2err(404, `Not found: ${route}`) };
  };

  private redeem(req: Rec): Answer {
    const item = JSON.parse(req.body)?.root?.redeem?.[0];
    const key: string | undefined = item?.external_reference_number;
    if (key && this.byKey.has(key)) return { text: this.byKey.get(key)! };
    this.spends.push({
      key: key ?? `(none ${this.spends.length})`,
      points: item.points_redeemed,
      customer: item.customer,
      notes: item.notes,
      kind: 'redeem',
    });
    this.balance -= Number(item.points_redeemed);
    const text = JSON.stringify({
      response: {
        status: v11(true, 200, 'Success'),
        responses: {
          points: {
            mobile: item.customer?.mobile ?? '',
            user_id: '101',
            redemption_id: `r${this.spends.length}`,
            points_redeemed: String(item.points_redeemed),
            redeemed_value: Number(item.points_redeemed),
            balance: this.balance,
            item_status: v11(true, 800, 'Points Redeemed'),
          },
        },
      },
    });
    if (key) this.byKey.set(key, text);
    return { text };
  }

  private file(req: Rec): Answer {
    const task = JSON.parse(req.body)?.payload?.['IntouchAPITask-Payload'];
    const item = task?.body?.root?.redeem?.[0];
    const key: string | undefined = item?.external_reference_number;
    if (key && this.byKey.has(`req:${key}`)) return { text: this.byKey.get(`req:${key}`)! };
    this.spends.push({
      key: key ?? `(none ${this.spends.length})`,
      points: item?.points_redeemed,
      customer: item?.customer,
      notes: item?.notes,
      kind: 'request',
    });
    const n = this.spends.length;
    const text = JSON.stringify({
      data: {
        requestId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
        requestType: 'points-redemption',
        state: 'AdminTask',
        startTime: '2025-01-01T10:00:00',
        endTime: null,
      },
    });
    if (key) this.byKey.set(`req:${key}`, text);
    return { text };
  }
}
