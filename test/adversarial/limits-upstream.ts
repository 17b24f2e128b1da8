/**
 * A fake Capillary for the limits suite that keeps its own books: every spend it commits (a
 * redemption, deduplicated by external_reference_number like the real API; a maker-checker
 * request, a promise to spend, counted when filed; a reversal) and every validation code it
 * sends, per customer as Capillary knows them. The tests assert these books, never the server's
 * replies. One customer is known by every identifier in `customers` (the look-up table).
 */
import { randomUUID } from 'node:crypto';
import { FakeCapillary, type Recorded, redeemOk } from '../fixtures/fake-capillary.js';

/** A customer Capillary knows by several identifiers. */
export interface LookupCustomer {
  id: number;
  mobile?: string;
  email?: string;
  external_id?: string;
}

export interface Commit {
  kind: 'redeem' | 'request' | 'reverse';
  /** Capillary's customer id, or `group:<id>` for a group redemption. */
  customer: string;
  points: number;
  at: number;
  key?: string;
  skipValidation?: string;
}

/** Customer 101, known five ways (and more spellings of each). */
export const ASHA: LookupCustomer = {
  id: 101,
  mobile: '919000000001',
  email: 'asha@example.com',
  external_id: 'EXT-101',
};
export const RAVI: LookupCustomer = { id: 102, mobile: '919000000002', email: 'ravi@example.com' };

/** Every identifier and spelling of ASHA an agent could use. */
export const ASHA_SPELLINGS: Array<Record<string, string>> = [
  { mobile: '919000000001' },
  { mobile: '+919000000001' },
  { email: 'asha@example.com' },
  { email: 'ASHA@Example.COM' },
  { external_id: 'EXT-101' },
  { id: '101' },
  { id: '0101' },
  { id: '00101' },
  { mobile: '+919000000001', email: 'Asha@example.com' },
  { id: '000101', external_id: 'EXT-101' },
];

const digits = (s: string) => s.replace(/\D/g, '');

export class CountingCapillary {
  readonly fake = new FakeCapillary();
  readonly committed: Commit[] = [];
  readonly codes: Array<{ customer: string; at: number }> = [];
  /** Delay before each money answer (so that calls overlap). */
  delayMs = 0;
  private readonly byKey = new Map<string, unknown>();
  private readonly redemptions = new Map<string, { customer: string; points: number; left: number }>();

  constructor(readonly customers: LookupCustomer[] = [ASHA, RAVI]) {
    // The look-up finds each customer by any of its identifiers.
    for (const c of customers) this.fake.knowCustomer({ ...c, id: String(c.id) });
    this.fake
      .on('POST', '/v1.1/points/redeem', (r) => this.redeem(r))
      .on('POST', '/api_gateway/v2/request-workflow/POINTS-REDEMPTION', (r) => this.request(r))
      .on('POST', '/v2/points/reverse', (r) => this.reverse(r))
      .on('GET', '/v1.1/points/validationcode', (r) => this.code(r));
  }

  get url(): string {
    return this.fake.url;
  }
  async start(): Promise<this> {
    await this.fake.start();
    return this;
  }
  close(): Promise<void> {
    return this.fake.close();
  }
  reset(): void {
    this.committed.length = 0;
    this.codes.length = 0;
    this.byKey.clear();
    this.redemptions.clear();
  }

  /** Points the customer lost: redemptions and filed requests (promises), less reversals. */
  spent(customer: string | number = ASHA.id, kinds: Commit['kind'][] = ['redeem', 'request']): number {
    return this.committed
      .filter((c) => c.customer === String(customer) && kinds.includes(c.kind))
      .reduce((a, c) => a + c.points, 0);
  }
  reversed(customer: string | number = ASHA.id): number {
    return this.spent(customer, ['reverse']);
  }
  codesFor(customer: string | number = ASHA.id): number {
    return this.codes.filter((c) => c.customer === String(customer)).length;
  }
  /** A redemption the upstream holds already (to reverse). */
  seedRedemption(id: string, customer: number, points: number): void {
    this.redemptions.set(id, { customer: String(customer), points, left: points });
  }

  /** Capillary's id of a customer named by identifiers, as the real API would find them. */
  customerOf(c: Record<string, unknown>): string {
    for (const t of this.customers) {
      if (typeof c.id === 'string' && c.id.replace(/^0+(?=\d)/, '') === String(t.id)) return String(t.id);
      if (typeof c.mobile === 'string' && t.mobile && digits(c.mobile) === t.mobile) return String(t.id);
      if (typeof c.email === 'string' && t.email && c.email.toLowerCase() === t.email) return String(t.id);
      if (typeof c.external_id === 'string' && c.external_id === t.external_id) return String(t.id);
    }
    return `unknown:${JSON.stringify(c)}`;
  }

  /**
   * The group a group redemption draws from, however it is named (its id, with or without leading
   * zeros, its external id, or its primary member's id), as the real API finds it. Group 7's
   * external id is GRP-7 and its primary member is the first customer.
   */
  groupOf(query: Record<string, string>): string | undefined {
    const id = query.user_group2_id?.replace(/^0+(?=\d)/, '');
    if (id) return id;
    if (query.user_group2_external_id === 'GRP-7') return '7';
    if (query.user_group2_primary_user_id?.replace(/^0+(?=\d)/, '') === String(this.customers[0]?.id))
      return '7';
    const named = Object.entries(query).filter(([k]) => k.startsWith('user_group2_'));
    return named.length ? `unknown:${JSON.stringify(Object.fromEntries(named))}` : undefined;
  }

  private commitRedeem(item: any, query: Record<string, string>, kind: Commit['kind']) {
    const key = item.external_reference_number as string | undefined;
    const group = this.groupOf(query);
    this.committed.push({
      kind,
      customer: group ? `group:${group}` : this.customerOf(item.customer ?? {}),
      points: Number(item.points_redeemed),
      at: Date.now(),
      key,
      skipValidation: query.skip_validation,
    });
  }

  private redeem(r: Recorded) {
    const item = JSON.parse(r.body).root.redeem[0];
    const key = item.external_reference_number as string | undefined;
    // Capillary keeps keys: a repeated key returns the original result, and spends nothing.
    if (key && this.byKey.has(key)) return { json: this.byKey.get(key), delayMs: this.delayMs };
    this.commitRedeem(item, r.query, 'redeem');
    const id = `RDM-${this.committed.length}`;
    this.redemptions.set(id, {
      customer: this.committed.at(-1)!.customer,
      points: Number(item.points_redeemed),
      left: Number(item.points_redeemed),
    });
    const body = redeemOk(item.points_redeemed, 0, id);
    if (key) this.byKey.set(key, body);
    return { json: body, delayMs: this.delayMs };
  }

  private request(r: Recorded) {
    const task = JSON.parse(r.body).payload['IntouchAPITask-Payload'];
    this.commitRedeem(task.body.root.redeem[0], task.queryParams ?? {}, 'request');
    return {
      json: {
        data: {
          requestId: randomUUID(),
          requestType: 'points-redemption',
          state: 'AdminTask',
          startTime: new Date().toISOString(),
        },
      },
      delayMs: this.delayMs,
    };
  }

  private reverse(r: Recorded) {
    const b = JSON.parse(r.body);
    const red = this.redemptions.get(b.redemptionId);
    if (!red)
      return {
        status: 400,
        json: { errors: [{ status: false, code: 3801, message: 'redemption not found' }], warnings: [] },
      };
    const points = b.pointsToBeReversed === undefined ? red.left : Number(b.pointsToBeReversed);
    red.left -= points;
    this.committed.push({ kind: 'reverse', customer: red.customer, points, at: Date.now() });
    return {
      json: {
        redemptionId: b.redemptionId,
        pointsReversed: points,
        reversalId: `REV-${this.committed.length}`,
        warnings: [],
        errors: [],
      },
      delayMs: this.delayMs,
    };
  }

  private code(r: Recorded) {
    this.codes.push({ customer: this.customerOf(r.query), at: Date.now() });
    return {
      json: {
        response: {
          status: { success: 'true', code: 200, message: 'Operation Successful' },
          validation_code: {
            code: { item_status: { success: 'true', code: 200, message: 'Validation Code Issued by SMS' } },
          },
        },
      },
    };
  }
}
