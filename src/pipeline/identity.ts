/**
 * One customer identity. Before a money call, the identifiers the agent gave are resolved to
 * Capillary's own customer id through the API (`GET /v2/customers/lookup/customerDetails`), and
 * caps, locks, confirmation budgets and the ledger are keyed on that id, so one customer named
 * five ways (mobile, email, external id, id, id with leading zeros) is one customer. Identifiers
 * are normalised where Capillary treats them as equal first (fields.ts: customerIds). A given `id`
 * is Capillary's id already; every other identifier is looked up, and all must name one customer.
 * An identifier that cannot be resolved is refused before anything is sent. A group redemption
 * is keyed on the group (its pool is what it draws from). Look-ups are cached briefly
 * (CAPILLARY_IDENTITY_CACHE_SECONDS).
 */
import type { App } from '../app.js';
import { checkEnvelope } from '../capillary/envelope.js';
import { ToolError } from '../errors.js';
import { type Customer, customerIds, type Group, withoutLeadingZeros } from '../toolkit/fields.js';

const MAX_CACHED = 10_000;

export interface Identity {
  /** The key for caps, locks, confirmation budgets and the ledger. */
  key: string;
  /** Every identity the call names, normalised (the key first). */
  ids: string[];
  /** Capillary's customer id, when it was resolved. */
  customerId?: string;
}

const LOOKUP_NAME: Record<string, string> = { mobile: 'mobile', email: 'email', external_id: 'externalId' };

const notSent = (code: string, message: string, hint: string, retryable = false) =>
  new ToolError({ code, message, hint, retryable, source: 'safety', outcome: 'not_sent', field: 'customer' });

const noLeadingZeros = (v: string) => (/^\d+$/.test(v) ? withoutLeadingZeros(v) : v);

/** A group as one key: its id (numeric ids without leading zeros), else its external id, else its primary member. */
export function groupKey(g: Group): string {
  if (g.id) return `group:id:${noLeadingZeros(g.id)}`;
  if (g.external_id) return `group:external_id:${g.external_id}`;
  if (g.primary_user_id) return `group:primary_user_id:${withoutLeadingZeros(g.primary_user_id)}`;
  return `group:primary:${g.primary_user_identifier_type ?? ''}:${g.primary_user_identifier_value ?? ''}`;
}

/**
 * A group named other than by its id cannot be told to be the same group as its id: Capillary
 * documents no look-up from a group's external id or primary member to its id. Where a limit
 * keys on whose points they are (the per-customer daily cap, the confirmation budget), naming
 * one group three ways would give it three budgets, so a group money call must name its id
 * (other identifiers may come along; the id decides). Without such limits, any documented naming
 * is accepted; the member's own identity still keys unresolved attempts.
 */
export function checkGroupNaming(
  group: Group | undefined,
  limits: { maxPointsPerCustomerPerDay?: number; confirmAbovePoints?: number },
): void {
  if (!group || group.id) return;
  const keyed = [
    limits.maxPointsPerCustomerPerDay !== undefined && 'CAPILLARY_MAX_POINTS_PER_CUSTOMER_PER_DAY',
    limits.confirmAbovePoints !== undefined && 'CAPILLARY_CONFIRM_ABOVE_POINTS',
  ].filter(Boolean);
  if (!keyed.length) return;
  throw new ToolError({
    code: 'group_id_required',
    message: `group: name the group by its id (group.id). With ${keyed.join(' and ')} set, the group's points are counted on its id, and Capillary has no look-up from an external id or a primary member to the group's id; nothing was sent.`,
    hint: 'Repeat the call with group.id (the operator or the customer can tell it).',
    retryable: false,
    source: 'safety',
    outcome: 'not_sent',
    field: 'group',
  });
}

export class IdentityResolver {
  private readonly cache = new Map<string, { id: string; until: number }>();
  constructor(
    private readonly app: Pick<App, 'client'>,
    /** How long a resolved identifier is reused (CAPILLARY_IDENTITY_CACHE_SECONDS). */
    private readonly ttlMs: number,
  ) {}

  /** The identity without asking the API (dry runs): the normalised identifiers only. */
  local(customer: Customer, group?: Group): Identity {
    const ids = customerIds(customer);
    const key = group ? groupKey(group) : ids[0];
    return { key, ids: [...new Set([key, ...ids])] };
  }

  async resolve(customer: Customer, group: Group | undefined, signal?: AbortSignal): Promise<Identity> {
    const given = customerIds(customer);
    const found = new Map<string, string>();
    for (const ident of given) {
      const at = ident.indexOf(':');
      const name = ident.slice(0, at);
      const value = ident.slice(at + 1);
      found.set(ident, name === 'id' ? value : await this.lookup(name, value, ident, signal));
    }
    const distinct = [...new Set(found.values())];
    if (distinct.length > 1)
      throw notSent(
        'customer_mismatch',
        `customer: the identifiers given name different customers (${[...found].map(([k, v]) => `${k} is customer ${v}`).join(', ')}).`,
        'Give identifiers of one customer only; nothing was sent.',
      );
    const customerId = distinct[0];
    const key = group ? groupKey(group) : `id:${customerId}`;
    return { key, ids: [...new Set([key, `id:${customerId}`, ...given])], customerId };
  }

  private async lookup(name: string, value: string, ident: string, signal?: AbortSignal): Promise<string> {
    const hit = this.cache.get(ident);
    if (hit && hit.until > Date.now()) return hit.id;
    let body: any;
    try {
      const res = await this.app.client.send(
        {
          method: 'GET',
          host: 'api',
          path: '/v2/customers/lookup/customerDetails',
          query: { source: 'INSTORE', identifierName: LOOKUP_NAME[name], identifierValue: value },
        },
        { mutating: false, signal },
      );
      body = checkEnvelope(res, 'v2', false);
    } catch (e) {
      if (e instanceof ToolError && e.reading?.form === 'v2' && String(e.reading.code) === '8015')
        throw new ToolError({
          // 816 is what the money call itself would answer: "Customer not found for organization".
          code: 816,
          message: `customer: no customer with ${name} ${value} (Capillary's look-up answered 8015); nothing was sent.`,
          hint: 'Check the identifier with get_points_balance.',
          retryable: false,
          source: 'upstream',
          outcome: 'not_sent',
          field: 'customer',
        });
      // Nothing was sent (connection refused, cancelled, no OAuth token): that error says it best.
      if (e instanceof ToolError && e.body.outcome === 'not_sent') throw e;
      const why = e instanceof ToolError ? e.body.message : String(e);
      throw notSent(
        'identity_unavailable',
        `customer: could not resolve ${name} to Capillary's customer id (${why}); nothing was sent.`,
        'Retrying later is safe.',
        true,
      );
    }
    const raw = body?.id ?? body?.entity?.id ?? body?.data?.id;
    const id = raw === undefined || raw === null ? '' : withoutLeadingZeros(String(raw));
    if (!/^\d{1,19}$/.test(id))
      throw notSent(
        'identity_unavailable',
        `customer: Capillary's answer for ${name} carried no customer id; nothing was sent.`,
        'Retrying later is safe; if it persists, ask an operator.',
        true,
      );
    if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value as string);
    if (this.ttlMs > 0) this.cache.set(ident, { id, until: Date.now() + this.ttlMs });
    return id;
  }
}
