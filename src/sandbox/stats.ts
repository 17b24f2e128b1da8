/**
 * The upstream's own count: what the sandbox actually committed (redemptions, reversals, workflow
 * requests, unlocks), per customer id and per external_reference_number. Tests judge money by
 * this, not by what a client was told: a lost_response redemption is committed and counted though
 * its answer never arrived; an idempotent replay or a failed attempt commits nothing and is not.
 * Derived from the stored state on each call, so it survives a restart with a state file.
 */
import { isObj, queryOf, text } from './core.js';
import { groupFromQuery } from './groups.js';
import { resolveV1 } from './identity.js';
import { milliToNumber, parseMilli } from './points.js';
import type { Store, WorkflowState } from './state.js';

/** How many, and how many points (a JSON number, exact to 3 decimals). */
export interface Tally {
  count: number;
  points: number;
}

export interface TallyBy {
  count: number;
  points: number;
  /** keyed by Capillary's customer id (as a string) */
  byCustomer: Record<string, Tally>;
  /** keyed by the redeem's external_reference_number; entries without one are not listed */
  byExternalReference: Record<string, Tally>;
  /** group redemptions (paid from a group's pool), keyed by group id; others are not listed */
  byGroup: Record<string, Tally>;
}

export interface SandboxStats {
  /** committed redemptions (direct and through workflow approval) */
  redemptions: TallyBy & {
    /** the part of them that ran through workflow approval */
    viaWorkflow: Tally;
  };
  /** committed reversals (each partial reversal counts once), keyed by the reversed redemption's customer and key */
  reversals: TallyBy;
  /**
   * workflow requests filed, whatever became of them; points are the embedded points_redeemed;
   * customer `unknown` when the embedded identifiers name nobody
   */
  workflowRequests: TallyBy & { byState: Record<WorkflowState, number> };
  /** promised entries unlocked into balances (a group's into its pool: in `byGroup`, not `byCustomer`) */
  unlocks: {
    count: number;
    points: number;
    byCustomer: Record<string, Tally>;
    byGroup: Record<string, Tally>;
  };
}

/** Sums in integer thousandths, rendered once at the end. */
class Counter {
  count = 0;
  milli = 0;
  readonly byCustomer = new Map<string, { count: number; milli: number }>();
  readonly byKey = new Map<string, { count: number; milli: number }>();
  readonly byGroup = new Map<string, { count: number; milli: number }>();

  /** customer null: a group's own entry (a group unlock), counted in the totals and per group only */
  add(milli: number, customer: string | null, key: string | null, group: number | null = null): void {
    this.count += 1;
    this.milli += milli;
    if (customer !== null) bump(this.byCustomer, customer, milli);
    if (key !== null) bump(this.byKey, key, milli);
    if (group !== null) bump(this.byGroup, String(group), milli);
  }

  render(): TallyBy {
    return {
      count: this.count,
      points: milliToNumber(this.milli),
      byCustomer: renderMap(this.byCustomer),
      byExternalReference: renderMap(this.byKey),
      byGroup: renderMap(this.byGroup),
    };
  }
}

function bump(m: Map<string, { count: number; milli: number }>, k: string, milli: number): void {
  const t = m.get(k) ?? { count: 0, milli: 0 };
  t.count += 1;
  t.milli += milli;
  m.set(k, t);
}

function renderMap(m: Map<string, { count: number; milli: number }>): Record<string, Tally> {
  const out: Record<string, Tally> = {};
  for (const [k, t] of m) out[k] = { count: t.count, points: milliToNumber(t.milli) };
  return out;
}

/** The embedded redeem item of a workflow request (its task was checked when it was filed). */
function embeddedItem(task: unknown): Record<string, unknown> {
  const body = isObj(task) ? task.body : undefined;
  const root = isObj(body) && isObj(body.root) ? body.root : undefined;
  const r = root?.redeem;
  const item = Array.isArray(r) ? r[0] : r;
  return isObj(item) ? item : {};
}

export function computeStats(store: Store): SandboxStats {
  const redemptions = new Counter();
  const reversals = new Counter();
  const requests = new Counter();
  const unlocks = new Counter();
  const byState: Record<WorkflowState, number> = { AdminTask: 0, Approved: 0, Rejected: 0, Failed: 0 };
  const approvedIds = new Set<string>();

  for (const w of store.requests.values()) {
    byState[w.state] += 1;
    const item = embeddedItem(w.task);
    const c = resolveV1(store, isObj(item.customer) ? item.customer : {});
    const p = parseMilli(item.points_redeemed);
    const ask = groupFromQuery(store, queryOf(isObj(w.task) ? w.task.queryParams : undefined));
    const group = ask.kind === 'group' ? ask.group.id : null;
    requests.add(
      p.ok ? p.milli : 0,
      c ? String(c.id) : 'unknown',
      text(item.external_reference_number),
      group,
    );
    const body = w.result?.httpStatus === 200 ? w.result.body : undefined;
    const points =
      isObj(body) && isObj(body.response) && isObj(body.response.responses)
        ? body.response.responses.points
        : undefined;
    const id = isObj(points) ? text(points.redemption_id) : null;
    if (id !== null) approvedIds.add(id);
  }

  const viaWorkflow = { count: 0, milli: 0 };
  for (const r of store.redemptions.values()) {
    const customer = String(r.customerId);
    redemptions.add(r.pointsMilli, customer, r.externalReferenceNumber, r.groupId);
    for (const rev of r.reversals)
      reversals.add(rev.pointsMilli, customer, r.externalReferenceNumber, r.groupId);
    if (approvedIds.has(r.redemptionId)) {
      viaWorkflow.count += 1;
      viaWorkflow.milli += r.pointsMilli;
    }
  }

  for (const c of store.customers.values()) {
    for (const p of c.promised) if (p.unlockedAt !== null) unlocks.add(p.pointsMilli, String(c.id), null);
  }
  for (const g of store.groups.values()) {
    for (const p of g.promised) if (p.unlockedAt !== null) unlocks.add(p.pointsMilli, null, null, g.id);
  }

  const u = unlocks.render();
  return {
    redemptions: {
      ...redemptions.render(),
      viaWorkflow: { count: viaWorkflow.count, points: milliToNumber(viaWorkflow.milli) },
    },
    reversals: reversals.render(),
    workflowRequests: { ...requests.render(), byState },
    unlocks: { count: u.count, points: u.points, byCustomer: u.byCustomer, byGroup: u.byGroup },
  };
}
