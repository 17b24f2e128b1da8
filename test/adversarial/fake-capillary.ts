import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  FakeCapillary as HttpFake,
  LOOKUP_PATH,
  type Recorded as Rec,
  type Reply as Wire,
} from '../fixtures/fake-capillary.js';

/**
 * An adversarial stand-in for Capillary on 127.0.0.1, for the "never spend twice" suite.
 *
 * It depends on nothing in `src/` (its HTTP layer is the tests' recording fake, test/fixtures/fake-capillary.ts): it speaks the wire (v1.1 redeem, v2 reverse, the
 * maker-checker request workflow, the balance and customer-details lookups) and keeps its OWN
 * record of what it actually committed. Tests assert on that record, never on the server's
 * account of what happened.
 *
 * Like the real API, `external_reference_number` is the redeem's idempotency key: a repeat of a
 * key returns the original result (also when the repeat names another customer, as a key is
 * unique per organization), keys are kept forever, and a key whose attempt was refused gets the
 * same refusal again. The reversal and the workflow request take no key: every accepted request
 * moves points again or files another request.
 *
 * Each money route can be scripted per customer: the i-th attempt that reaches the route for
 * that customer is answered by the i-th scripted fault (then normally). Most faults commit first
 * and then misbehave (the answer lies, is lost, or never comes); the `refuse-*` faults refuse
 * without committing, with the genuine documented envelope (never for a key already applied:
 * that gets its original result, as from the real API).
 */

export type Route = 'redeem' | 'reverse' | 'workflow';

export const FAULT_KINDS = [
  // Proxies and gateways in front of the API (HTML pages, or the API's own JSON).
  '503-html',
  '503-html-retry-after',
  '503-json',
  '503-json-retry-after',
  '500-status-object',
  '500-status-string',
  '500-errors',
  '408',
  '499',
  '400-gateway',
  '404-gateway',
  '409-gateway',
  '413-gateway',
  // Bodies that cannot be read.
  '200-empty',
  '200-not-json',
  '200-truncated-json',
  'cut-mid-body',
  // No answer at all.
  'reset',
  'hang',
  // A success whose body holds a value of an unexpected type.
  'ok-code-string',
  'ok-points-object',
  // Genuine refusals: nothing is committed.
  'refuse-813',
  'refuse-816',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number] | 'slow';

export interface Fault {
  kind: FaultKind;
  /** Whether the request is applied before the answer misbehaves; default: all but `refuse-*`. */
  commit?: boolean;
  /** Retry-After seconds for the `*-retry-after` kinds (default 1). */
  retryAfter?: number;
  /** For `slow`: how long the (normal) answer is held. */
  delayMs?: number;
}

export const refuses = (k: FaultKind) => k.startsWith('refuse-');
export const commitsByDefault = (k: FaultKind) => !refuses(k);

export interface FakeCustomer {
  id: number;
  mobile: string;
  email: string;
  externalId: string;
  /** Balance in thousandths of a point. */
  milli: number;
}

/** One thing the fake actually did to its books. */
export interface Commit {
  seq: number;
  route: Route;
  customerId: number;
  /** Redeem and workflow: the points of the redemption; reverse: the points returned. */
  points: number;
  /** external_reference_number (redeem; the embedded one for workflow). */
  key?: string;
  programId?: string;
  group?: string;
  /** Reverse: the redemption reversed. Redeem: the redemption created. */
  redemptionId?: string;
  /** Workflow: the request filed. */
  requestId?: string;
}

/** Every request that reached a money route, with what the fake did with it. */
export interface Attempt {
  seq: number;
  route: Route;
  customerId?: number;
  key?: string;
  points?: number;
  programId?: string;
  redemptionId?: string;
  /** new: applied now; replay: the key was already applied (original result); none: nothing applied. */
  applied: 'new' | 'replay' | 'none';
  fault?: FaultKind;
  /** HTTP status sent, or the fault that replaced the answer. */
  answered: number | 'reset' | 'hang' | 'cut';
}

export interface FakeOptions {
  username?: string;
  password?: string;
  orgId?: string;
  uiToken?: string;
  /** Delay before any money request is processed (widens race windows). */
  latencyMs?: number;
  /** Customers created at construction (default 3). */
  seedCustomers?: number;
}

interface Answer {
  status: number;
  headers?: Record<string, string>;
  text: string;
}

interface Redemption {
  id: string;
  customerId: number;
  milli: number;
  reversedMilli: number;
  seeded: boolean;
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const toMilli = (p: number) => Math.round(p * 1000);
const fromMilli = (m: number) => m / 1000;
const pointsText = (m: number) => {
  const whole = Math.trunc(m / 1000);
  const frac = Math.abs(m % 1000);
  return frac ? `${whole}.${String(frac).padStart(3, '0').replace(/0+$/, '')}` : String(whole);
};

const html = (status: number, title: string) =>
  `<html>\r\n<head><title>${status} ${title}</title></head>\r\n<body>\r\n<center><h1>${status} ${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;

const v2Errors = (code: number, message: string) =>
  JSON.stringify({ errors: [{ status: false, code, message }], warnings: [] });

const v11Refusal = (code: number, message: string) =>
  JSON.stringify({
    response: {
      status: { success: 'false', code: 500, message: 'All requests have failed due to errors' },
      responses: { points: { item_status: { success: 'false', code, message } } },
    },
  });

const v11Status = (code: number, message: string) =>
  JSON.stringify({ response: { status: { success: 'false', code, message } } });

/** Identifier normalisation as Capillary compares them. */
export const normMobile = (m: string) => m.replace(/[\s+()-]/g, '');
const normId = (s: string) => (/^\d+$/.test(s) ? String(BigInt(s)) : s);

export class FakeCapillary extends EventEmitter {
  readonly commits: Commit[] = [];
  readonly attempts: Attempt[] = [];
  private readonly customers = new Map<number, FakeCustomer>();
  private readonly redemptions = new Map<string, Redemption>();
  /** external_reference_number -> the original answer (kept forever). */
  private readonly keys = new Map<string, { status: number; text: string; applied: boolean }>();
  private readonly scripts = new Map<string, Fault[]>();
  // The look-up is answered here (these customers), not by the recording fake's own default.
  private readonly http = new HttpFake((rec) => this.answer(rec)).on('GET', LOOKUP_PATH, (rec) =>
    this.answer(rec),
  );
  private nextId = 5001;

  constructor(private readonly opts: FakeOptions = {}) {
    super();
    this.setMaxListeners(1000);
    // A few customers from the start (ids 5001-5003); tests mostly add fresh ones per case.
    for (let i = 0; i < (opts.seedCustomers ?? 3); i++) this.addCustomer();
  }

  // -------------------------------------------------------------------------------------------
  // Test-facing API.

  /** A fresh customer with four identifiers and a balance. */
  addCustomer(points = 100_000): FakeCustomer {
    const id = this.nextId++;
    const c: FakeCustomer = {
      id,
      mobile: `91900${String(id).padStart(7, '0')}`,
      email: `Cust.${id}@Example.com`,
      externalId: `EXT-${id}`,
      milli: toMilli(points),
    };
    this.customers.set(id, c);
    return c;
  }

  customer(id: number): FakeCustomer {
    const c = this.customers.get(id);
    if (!c) throw new Error(`no customer ${id}`);
    return c;
  }

  balance(id: number): number {
    return fromMilli(this.customer(id).milli);
  }

  /** A redemption made outside the server (for reversals); not in `commits`. */
  seedRedemption(customerId: number, points: number): string {
    const c = this.customer(customerId);
    const id = `SEED-${randomUUID().slice(0, 8)}`;
    c.milli -= toMilli(points);
    this.redemptions.set(id, { id, customerId, milli: toMilli(points), reversedMilli: 0, seeded: true });
    return id;
  }

  /** The i-th next attempt at `route` for this customer gets faults[i]; later ones are normal. */
  script(customerId: number, route: Route, faults: Array<Fault | FaultKind | undefined>): void {
    const q = this.queue(customerId, route);
    for (const f of faults) q.push(typeof f === 'string' ? { kind: f } : (f ?? { kind: 'slow', delayMs: 0 }));
  }

  /** Faults still waiting for their attempt. */
  pending(customerId: number, route: Route): number {
    return this.queue(customerId, route).length;
  }

  commitsFor(customerId: number, route?: Route): Commit[] {
    return this.commits.filter((c) => c.customerId === customerId && (!route || c.route === route));
  }

  attemptsFor(customerId: number, route?: Route): Attempt[] {
    return this.attempts.filter((a) => a.customerId === customerId && (!route || a.route === route));
  }

  /** The fake's own count for one customer: what it applied, by kind, and the points moved. */
  books(customerId: number): { spends: number; reversals: number; requests: number; pointsMoved: number } {
    const cs = this.commitsFor(customerId);
    return {
      spends: cs.filter((c) => c.route === 'redeem').length,
      reversals: cs.filter((c) => c.route === 'reverse').length,
      requests: cs.filter((c) => c.route === 'workflow').length,
      pointsMoved: this.pointsMoved(customerId),
    };
  }

  /** Commits made under one external_reference_number (redeem; the embedded one for workflow). */
  commitsForKey(key: string): Commit[] {
    return this.commits.filter((c) => c.key === key);
  }

  /** Points the customer's balance moved by, from the fake's books (seeded redemptions aside). */
  pointsMoved(customerId: number): number {
    let milli = 0;
    for (const c of this.commitsFor(customerId)) {
      if (c.route === 'redeem') milli += toMilli(c.points);
      if (c.route === 'reverse') milli -= toMilli(c.points);
    }
    return fromMilli(milli);
  }

  /** Resolves when the next attempt for this customer at this route has been handled (applied or not). */
  nextAttempt(customerId: number, route: Route, timeoutMs = 20_000): Promise<Attempt> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.off('attempt', on);
        reject(new Error(`no ${route} attempt for customer ${customerId} within ${timeoutMs} ms`));
      }, timeoutMs);
      const on = (a: Attempt) => {
        if (a.customerId !== customerId || a.route !== route) return;
        clearTimeout(t);
        this.off('attempt', on);
        resolve(a);
      };
      this.on('attempt', on);
    });
  }

  /** A redemption's points still reversible. */
  reversible(redemptionId: string): number {
    const r = this.redemptions.get(redemptionId);
    return r ? fromMilli(r.milli - r.reversedMilli) : 0;
  }

  // -------------------------------------------------------------------------------------------
  // HTTP.

  /** Every request of any kind, in arrival order. */
  get log(): Rec[] {
    return this.http.requests;
  }

  get url(): string {
    return this.http.url;
  }

  async start(port = 0): Promise<this> {
    await this.http.start(port);
    return this;
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  private queue(customerId: number, route: Route): Fault[] {
    const k = `${customerId}|${route}`;
    const q = this.scripts.get(k) ?? [];
    this.scripts.set(k, q);
    return q;
  }

  private authorized(req: Rec, workflow: boolean): boolean {
    const { username, password } = this.opts;
    if (username !== undefined && password !== undefined) {
      const want = `Basic ${Buffer.from(`${username}:${md5(password)}`).toString('base64')}`;
      if (req.headers.authorization !== want) return false;
    }
    if (workflow) {
      if (this.opts.orgId !== undefined && req.headers['x-cap-api-auth-org-id'] !== this.opts.orgId)
        return false;
      if (this.opts.uiToken !== undefined && req.headers['x-cap-ui-auth-token'] !== this.opts.uiToken)
        return false;
    }
    return true;
  }

  private async answer(req: Rec): Promise<Wire> {
    const route = `${req.method} ${req.path}`;
    const money: Route | undefined =
      route === 'POST /v1.1/points/redeem'
        ? 'redeem'
        : route === 'POST /v2/points/reverse'
          ? 'reverse'
          : route === 'POST /api_gateway/v2/request-workflow/POINTS-REDEMPTION'
            ? 'workflow'
            : undefined;
    if (!this.authorized(req, money === 'workflow'))
      return req.path.startsWith('/v1.1/')
        ? { status: 401, text: v11Status(401, 'Unauthorized') }
        : { status: 401, text: v2Errors(401, 'Unauthorized') };
    if (money) {
      if (this.opts.latencyMs) await sleep(this.opts.latencyMs);
      return this.money(req.seq, money, req);
    }
    if (route === 'GET /v2/customers/lookup/customerDetails') return this.details(req.query);
    if (route === 'GET /v2/customers/lookup/points/balance') return this.balanceAnswer(req.query);
    return { status: 404, text: v2Errors(404, `Not found: ${route}`) };
  }

  // -------------------------------------------------------------------------------------------
  // Lookups.

  /** Resolves one identifier (mobile, email, externalId/external_id, id/userId) to a customer. */
  resolve(name: string, value: string): FakeCustomer | undefined {
    const v = value.trim();
    for (const c of this.customers.values()) {
      switch (name) {
        case 'mobile':
          if (normMobile(v) === c.mobile) return c;
          break;
        case 'email':
          if (v.toLowerCase() === c.email.toLowerCase()) return c;
          break;
        case 'externalId':
        case 'external_id':
          if (v === c.externalId) return c;
          break;
        case 'id':
        case 'userId':
        case 'user_id':
          if (/^\d+$/.test(v) && normId(v) === String(c.id)) return c;
          break;
      }
    }
    return undefined;
  }

  /** A customer object {mobile?, email?, external_id?, id?}: every identifier must name one customer. */
  private resolveAll(customer: Record<string, unknown> | undefined): FakeCustomer | undefined {
    if (!customer || typeof customer !== 'object') return undefined;
    let found: FakeCustomer | undefined;
    let any = false;
    for (const name of ['mobile', 'email', 'external_id', 'id'] as const) {
      const v = customer[name];
      if (v === undefined || v === null || v === '') continue;
      any = true;
      const c = this.resolve(name, String(v));
      if (!c || (found && found.id !== c.id)) return undefined;
      found = c;
    }
    return any ? found : undefined;
  }

  /** GET /v2/customers/lookup/customerDetails?source&identifierName&identifierValue. */
  private details(q: Record<string, string>): Answer {
    const names = (q.identifierName ?? '').split(',').map((s) => s.trim());
    const values = (q.identifierValue ?? '').split(',').map((s) => s.trim());
    if (!q.source || !names[0] || !values[0])
      return { status: 400, text: v2Errors(8015, 'Customer not found for given identifiers') };
    let found: FakeCustomer | undefined;
    for (let i = 0; i < names.length; i++) {
      const c = this.resolve(names[i], values[i] ?? '');
      if (!c || (found && found.id !== c.id)) {
        found = undefined;
        break;
      }
      found = c;
    }
    if (!found) return { status: 400, text: v2Errors(8015, 'Customer not found for given identifiers') };
    const c = found;
    return {
      status: 200,
      text: JSON.stringify({
        id: c.id,
        profiles: [
          {
            firstName: 'Test',
            lastName: `Customer ${c.id}`,
            source: 'INSTORE',
            identifiers: [
              { type: 'mobile', value: c.mobile },
              { type: 'email', value: c.email },
              { type: 'externalId', value: c.externalId },
            ],
          },
        ],
        loyaltyInfo: { loyaltyType: 'loyalty' },
        warnings: [],
      }),
    };
  }

  /** GET /v2/customers/lookup/points/balance?source&identifierName&identifierValue. */
  private balanceAnswer(q: Record<string, string>): Answer {
    const name = q.identifierName;
    const value = q.identifierValue;
    if (!name || !value || !q.source)
      return {
        status: 400,
        text: v2Errors(8015, 'Invalid identifier: source, identifierName and identifierValue are required'),
      };
    const c = this.resolve(name, value);
    if (!c) return { status: 404, text: v2Errors(8015, 'Invalid identifier: customer not found') };
    return {
      status: 200,
      text: JSON.stringify({
        data: {
          customerId: c.id,
          mobile: c.mobile,
          email: c.email,
          externalId: c.externalId,
          loyaltyPoints: fromMilli(c.milli),
          promisedPoints: 0,
          promised: [],
        },
        errors: [],
        warnings: [],
      }),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Money routes.

  private money(seq: number, route: Route, req: Rec): Wire {
    let body: any;
    try {
      body = JSON.parse(req.body);
    } catch {
      body = undefined;
    }
    const parsed =
      route === 'redeem'
        ? this.parseRedeem(body?.root?.redeem, req.query)
        : route === 'workflow'
          ? this.parseWorkflow(body)
          : this.parseReverse(body);
    const attempt: Attempt = {
      seq,
      route,
      customerId: parsed.customer?.id,
      key: parsed.key,
      points: parsed.points,
      programId: parsed.programId,
      redemptionId: parsed.redemptionId,
      applied: 'none',
      answered: 0,
    };
    this.attempts.push(attempt);
    let fault = parsed.customer ? this.queue(parsed.customer.id, route).shift() : undefined;
    // Like the real API, a key already applied is never refused: it gets its original result.
    if (
      fault &&
      refuses(fault.kind) &&
      route === 'redeem' &&
      parsed.key &&
      this.keys.get(parsed.key)?.applied
    )
      fault = undefined;
    if (fault && fault.kind !== 'slow') attempt.fault = fault.kind;
    const commit = fault ? (fault.commit ?? commitsByDefault(fault.kind)) : true;

    // Refused without committing: the genuine envelope.
    if (fault && refuses(fault.kind)) {
      const a = refusal(route, fault.kind);
      // A key already applied keeps its original result forever.
      if (route === 'redeem' && parsed.key && !this.keys.has(parsed.key))
        this.keys.set(parsed.key, { ...a, applied: false });
      attempt.answered = a.status;
      this.emit('attempt', attempt);
      return a;
    }

    // The genuine answer (and whether it applied anything), unless the fault says do not commit.
    let genuine: Answer;
    if (!commit) {
      genuine = { status: 0, text: '' };
    } else {
      genuine = this.apply(seq, route, parsed, attempt);
    }
    this.emit('attempt', attempt);

    if (!fault || fault.kind === 'slow') {
      if (!commit) {
        attempt.answered = 'reset';
        return { fault: 'reset', delayMs: fault?.delayMs };
      }
      attempt.answered = genuine.status;
      return { ...genuine, delayMs: fault?.delayMs };
    }
    const a = faultAnswer(route, fault, genuine);
    if (a === 'reset' || a === 'hang') {
      // hang: the socket stays open until the client gives up or close() drops it.
      attempt.answered = a;
      return { fault: a };
    }
    if (a === 'cut') {
      attempt.answered = 'cut';
      const text = genuine.text || GENERIC_OK;
      return { fault: 'partial', status: 200, text, cut: Math.floor(Buffer.byteLength(text) / 2) };
    }
    attempt.answered = a.status;
    return a;
  }

  /** Books a redemption or a maker-checker request. */
  private commitRedemption(seq: number, route: Route, c: FakeCustomer, p: Parsed, id: Partial<Commit>): void {
    this.commits.push({
      seq,
      route,
      customerId: c.id,
      points: p.points!,
      key: p.key,
      programId: p.programId,
      group: p.group,
      ...id,
    });
  }

  /** Applies one request to the books and returns the genuine answer. */
  private apply(seq: number, route: Route, p: Parsed, attempt: Attempt): Answer {
    if (p.error) return p.error;
    const c = p.customer!;
    if (route === 'redeem') {
      const prior = p.key ? this.keys.get(p.key) : undefined;
      if (prior) {
        attempt.applied = prior.applied ? 'replay' : 'none';
        return { status: prior.status, text: prior.text };
      }
      const milli = toMilli(p.points!);
      if (milli > c.milli) {
        const a = refusal('redeem', 'refuse-813');
        if (p.key) this.keys.set(p.key, { ...a, applied: false });
        return a;
      }
      c.milli -= milli;
      const redemptionId = `RDM-${seq}`;
      this.redemptions.set(redemptionId, {
        id: redemptionId,
        customerId: c.id,
        milli,
        reversedMilli: 0,
        seeded: false,
      });
      this.commitRedemption(seq, route, c, p, { redemptionId });
      attempt.applied = 'new';
      const a: Answer = {
        status: 200,
        text: JSON.stringify({
          response: {
            status: { success: 'true', code: 200, message: 'Success' },
            responses: {
              points: {
                mobile: c.mobile,
                email: c.email,
                external_id: c.externalId,
                user_id: String(c.id),
                redemption_id: redemptionId,
                points_redeemed: pointsText(milli),
                redemption_purpose: '',
                redeemed_value: fromMilli(milli),
                balance: fromMilli(c.milli),
                item_status: { success: 'true', code: 800, message: 'Points Redeemed' },
              },
            },
          },
        }),
      };
      if (p.key) this.keys.set(p.key, { ...a, applied: true });
      return a;
    }
    if (route === 'reverse') {
      const r = this.redemptions.get(p.redemptionId ?? '');
      if (!r) return { status: 400, text: v2Errors(902, 'Redemption ID does not exist') };
      if (r.customerId !== c.id)
        return { status: 400, text: v2Errors(904, 'Invalid customer details passed') };
      const left = r.milli - r.reversedMilli;
      if (left <= 0)
        return { status: 400, text: v2Errors(3802, 'Points already reversed for this redemption') };
      const milli = p.points === undefined ? left : toMilli(p.points);
      if (milli > left)
        return {
          status: 400,
          text: v2Errors(
            3801,
            `Points to be reversed (${pointsText(milli)}) exceed the points still reversible on this redemption (${pointsText(left)})`,
          ),
        };
      r.reversedMilli += milli;
      c.milli += milli;
      const reversalId = `REV-${seq}`;
      this.commits.push({ seq, route, customerId: c.id, points: fromMilli(milli), redemptionId: r.id });
      attempt.applied = 'new';
      return {
        status: 200,
        text: JSON.stringify({
          redemptionId: r.id,
          ...(p.points === undefined ? {} : { pointsToBeReversed: p.points }),
          orgId: 50001,
          customerId: c.id,
          pointsReversed: fromMilli(milli),
          reversalId,
          balance: fromMilli(c.milli),
          warnings: [],
          errors: [],
        }),
      };
    }
    // workflow: files a request (a promise to spend; nothing is deducted until approved).
    const requestId = randomUUID();
    this.commitRedemption(seq, route, c, p, { requestId });
    attempt.applied = 'new';
    return {
      status: 200,
      text: JSON.stringify({
        data: {
          requestId,
          userId: 75001,
          userName: 'maker@example.com',
          requestType: 'points-redemption',
          state: 'AdminTask',
          startTime: new Date().toISOString().slice(0, 19),
          endTime: null,
        },
      }),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Request parsing.

  private parseRedeem(raw: unknown, query: Record<string, string>): Parsed {
    const item: any = Array.isArray(raw) ? raw[0] : raw;
    const customer = this.resolveAll(item?.customer);
    const points = Number(item?.points_redeemed);
    const group = Object.entries(query)
      .filter(([k]) => k.startsWith('user_group2_'))
      .map(([k, v]) => `${k}=${v}`)
      .sort()
      .join('&');
    const out: Parsed = {
      customer,
      points: Number.isFinite(points) ? points : undefined,
      key: typeof item?.external_reference_number === 'string' ? item.external_reference_number : undefined,
      programId: query.program_id,
      group: group || undefined,
    };
    if (!item || typeof item !== 'object')
      out.error = { status: 400, text: v11Status(400, 'Invalid request: root.redeem is required') };
    else if (!customer) out.error = refusal('redeem', 'refuse-816');
    else if (!(points > 0)) out.error = { status: 400, text: v11Refusal(801, 'Invalid points') };
    return out;
  }

  private parseWorkflow(body: any): Parsed {
    const task = body?.payload?.['IntouchAPITask-Payload'];
    const q = task?.queryParams ?? {};
    const p = this.parseRedeem(task?.body?.root?.redeem, q);
    // The embedded body is checked on approval, not when the request is filed.
    p.error = undefined;
    if (task?.path !== '/v1.1/points/redeem')
      p.error = { status: 400, text: v2Errors(400, 'Invalid payload: IntouchAPITask-Payload') };
    else if (!p.customer) p.error = { status: 400, text: v2Errors(400, 'Invalid payload: customer') };
    return p;
  }

  private parseReverse(body: any): Parsed {
    const idType = String(body?.identifier?.type ?? '');
    const idValue = String(body?.identifier?.value ?? '');
    const r = this.redemptions.get(String(body?.redemptionId ?? ''));
    const named = idType && idValue ? this.resolve(idType, idValue) : undefined;
    const points = body?.pointsToBeReversed === undefined ? undefined : Number(body.pointsToBeReversed);
    const out: Parsed = {
      // Attribute the attempt to the redemption's customer when the identifier is wrong.
      customer: named ?? (r ? this.customers.get(r.customerId) : undefined),
      points,
      redemptionId: body?.redemptionId === undefined ? undefined : String(body.redemptionId),
    };
    if (!out.redemptionId)
      out.error = { status: 400, text: v2Errors(901, 'Invalid points or points redemption ID') };
    else if (!named) out.error = { status: 400, text: v2Errors(904, 'Invalid customer details passed') };
    else if (points !== undefined && !(points > 0))
      out.error = { status: 400, text: v2Errors(901, 'Invalid points or points redemption ID') };
    return out;
  }
}

interface Parsed {
  customer?: FakeCustomer;
  points?: number;
  key?: string;
  programId?: string;
  group?: string;
  redemptionId?: string;
  /** A genuine refusal of a malformed request (nothing applied). */
  error?: Answer;
}

/** The genuine, documented refusal of each money route for the two refusal kinds. */
function refusal(route: Route, kind: FaultKind): Answer {
  const insufficient = kind === 'refuse-813';
  if (route === 'redeem')
    return insufficient
      ? { status: 200, text: v11Refusal(813, 'Insufficient points for redemption') }
      : { status: 400, text: v11Refusal(816, 'Customer not found for organization') };
  if (route === 'reverse')
    return insufficient
      ? { status: 400, text: v2Errors(3801, 'Points to be reversed exceed the points still reversible') }
      : { status: 400, text: v2Errors(902, 'Redemption ID does not exist') };
  return insufficient
    ? { status: 400, text: v2Errors(400, 'Invalid payload: points_redeemed') }
    : { status: 400, text: v2Errors(8015, 'Customer not found for given identifiers') };
}

/** The genuine success with one value of a type the client does not expect. */
function oddTypes(route: Route, kind: 'ok-code-string' | 'ok-points-object', text: string): string {
  let b: any;
  try {
    b = JSON.parse(text);
  } catch {
    return text;
  }
  if (route === 'redeem') {
    const p = b?.response?.responses?.points;
    if (p) {
      if (kind === 'ok-code-string') p.item_status = { ...p.item_status, code: 'OK' };
      else p.points_redeemed = {};
    }
  } else if (route === 'reverse') {
    if (kind === 'ok-code-string') b.pointsReversed = 'all';
    else b.balance = {};
  } else if (b?.data) {
    if (kind === 'ok-code-string') b.data.startTime = 1_700_000_000;
    else b.data.state = {};
  }
  return JSON.stringify(b);
}

const GENERIC_OK = '{"response":{"status":{"success":"true","code":200,"message":"Success"}}}';

/** What a fault answers instead of the genuine answer (which was already applied, if it commits). */
export function faultAnswer(route: Route, fault: Fault, genuine: Answer): Answer | 'reset' | 'hang' | 'cut' {
  const ra = { 'retry-after': String(fault.retryAfter ?? 1) };
  const page = (status: number, title: string, headers?: Record<string, string>): Answer => ({
    status,
    headers: { 'content-type': 'text/html', ...headers },
    text: html(status, title),
  });
  switch (fault.kind) {
    case '503-html':
      return page(503, 'Service Temporarily Unavailable');
    case '503-html-retry-after':
      return page(503, 'Service Temporarily Unavailable', ra);
    case '503-json':
      return { status: 503, text: v2Errors(503, 'Service Unavailable') };
    case '503-json-retry-after':
      return { status: 503, headers: ra, text: v2Errors(503, 'Service Unavailable') };
    case '500-status-object':
      return { status: 500, text: v11Status(500, 'Internal Server Error') };
    case '500-status-string':
      return { status: 500, text: JSON.stringify({ response: { status: 'INTERNAL_SERVER_ERROR' } }) };
    case '500-errors':
      return { status: 500, text: v2Errors(500, 'Internal Server Error') };
    case '408':
      return page(408, 'Request Time-out');
    case '499':
      return { status: 499, headers: { 'content-type': 'text/plain' }, text: '' };
    case '400-gateway':
      return page(400, 'Bad Request');
    case '404-gateway':
      return page(404, 'Not Found');
    case '409-gateway':
      return page(409, 'Conflict');
    case '413-gateway':
      return page(413, 'Request Entity Too Large');
    case '200-empty':
      return { status: 200, text: '' };
    case '200-not-json':
      return { status: 200, headers: { 'content-type': 'text/plain' }, text: 'OK' };
    case '200-truncated-json':
      return { status: 200, text: (genuine.text || GENERIC_OK).slice(0, 40) };
    case 'cut-mid-body':
    case 'reset':
    case 'hang':
      return fault.kind === 'cut-mid-body' ? 'cut' : fault.kind;
    case 'ok-code-string':
    case 'ok-points-object':
      return { status: genuine.status || 200, text: oddTypes(route, fault.kind, genuine.text) };
    default:
      return genuine;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
