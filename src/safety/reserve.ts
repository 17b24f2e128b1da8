/**
 * The ledger's one atomic step, "reserve", decided here and carried out by every store in one
 * go (the file store under a lock shared by the processes on its data dir, the memory store in
 * one synchronous turn): look at what the ledger holds for this operation and this customer,
 * then replay, wait, refuse, or write the pending entry that lets the call be sent.
 *
 * The rules, in order:
 * 1. An agent's key already claimed by a different operation (even one still in flight) is a
 *    `key_conflict`; a key of a failed attempt is refused (Capillary does not take it again).
 * 2. An attempt of this customer still in flight (its writer alive, not past the stale bound)
 *    is waited for: one call per customer at a time, across processes.
 * 3. An attempt whose outcome is unknown blocks the customer: any other operation is refused
 *    (`unresolved_attempt`); the identical operation re-sends the same key, at any age (the
 *    idempotency window never turns an unknown attempt into a new key). A money call whose key
 *    does not travel upstream cannot be re-sent: it is refused until a human settles it.
 * 4. The same operation (by meaning) that succeeded within the idempotency window is replayed.
 * 5. The caps (caps.ts), counted from the ledger's running sums at this moment: per redemption,
 *    per customer and per server in a rolling 24 h (a re-sent attempt is not counted twice, and
 *    counts in the window of its latest send).
 * 6. Confirmation (confirm.ts): a call that needs a human's yes (the customer's confirmation
 *    budget, a reversal of "all", a recent "no") and has none is answered `ask`; the caller asks
 *    and comes back. The yes it then carries is spent by the pending entry: one attempt per yes.
 *    A re-send needs none (its points are in the budget already).
 * 7. Otherwise the pending entry is written, durably, before anything is sent.
 *
 * decideCode() is the same step for a validation code (issue_redemption_code): the rate per
 * customer, then a line that counts it.
 */
import type { ToolErrorBody } from '../errors.js';
import { ToolError } from '../errors.js';
import { capRefusal, codeRefusal, DAY_MS, type Limits } from './caps.js';
import { approvalOf, type ConfirmPolicy, confirmNeed, type Need } from './confirm.js';
import { mintKey } from './fingerprint.js';
import type { LedgerEntry } from './ledger.js';

/** What a store shows the decision: read at the moment of the step, under its lock. */
export interface LedgerView {
  latest(fingerprint: string): LedgerEntry | undefined;
  /** The newest entry of an operation by meaning (entries written before meanings: none). */
  latestByMeaning(meaning: string): LedgerEntry | undefined;
  byKey(key: string): LedgerEntry | undefined;
  /** Attempts whose outcome is not known (pending or unknown), at any age, of the customer
   * named by any of these identities. */
  unresolved(ids: string[]): LedgerEntry[];
  /** Points counted against the caps since a time: of one customer key, or of everyone (ALL). */
  spentSince(customer: string, since: number): number;
  /** Points moved for a customer since a time (the confirmation budget); Infinity while a
   * reversal of "all" is among them. */
  movedSince(customer: string, since: number): number;
  /** Validation codes sent to a customer since a time. */
  codesSince(customer: string, since: number): number;
  /** When a running sum has freed `amount` (see Index.freedBy); add the window's length. */
  freedBy(
    measure: 'spent' | 'moved' | 'codes',
    name: string,
    since: number,
    amount: number,
  ): number | undefined;
  /** The newest "no" of a human about a customer named by any of these identities, since a time. */
  declinedSince(ids: string[], since: number): LedgerEntry | undefined;
  /** A human's yes, by question id; the newest yes to an operation, by meaning. */
  approval(id: string): LedgerEntry | undefined;
  approvalFor(meaning: string): LedgerEntry | undefined;
  /** Whether an attempt (not failed) has spent this yes. */
  approvalUsed(id: string): boolean;
}

/**
 * What a decision reads, named before it runs: a store that does not hold the whole ledger in
 * memory (PostgreSQL) locks these identities and loads just these entries and sums. A ReserveAsk
 * and a CodeAsk are each one.
 */
export interface LedgerScope {
  /** The customer key the caps count under. */
  customer: string;
  /** Every identity of the customer the call named. */
  ids: string[];
  /** The call by bytes and by meaning (absent for a validation code). */
  fingerprint?: string;
  meaning?: string;
  agentKey?: string;
  /** The decision's clock: the caps look back 24 h from it. */
  now: number;
  /** The limits read (the per-server cap reads everyone's spending). */
  limits?: Limits;
  /** The confirmation settings: the budget's window and the cooldown of a "no". */
  confirm?: ConfirmPolicy;
  /** The question this call had a human's yes to, if any. */
  approval?: string;
}

export interface ReserveAsk extends LedgerScope {
  tool: string;
  /** The call byte for byte: a success with it is replayed. */
  fingerprint: string;
  /** The operation by meaning: an unknown attempt with it is re-sent. */
  meaning: string;
  customer: string;
  /** Every identity of the customer the call named (the customer key among them). */
  ids: string[];
  points: number;
  /** Points moved for the customer (confirmation budget), when not `points`; "all" for a
   * reversal of everything left. */
  moved?: number | 'all';
  agentKey?: string;
  keyPrefix: string;
  /** Whether a re-send of the request is a no-op upstream (its key deduplicates it there). */
  resendable: boolean;
  now: number;
  /** How long an identical success is replayed. */
  windowMs: number;
  limits: Limits;
  /** The confirmation settings; undefined when nobody is asked. */
  confirm?: ConfirmPolicy;
  /** The question this call had a human's yes to, if any. */
  approval?: string;
  /** This process, as written into its entries ("host:pid:nonce"). */
  owner: string;
  /** Whether a pending entry is still being sent by a live writer. */
  live(e: LedgerEntry): boolean;
}

/** A validation code about to be sent (decideCode). */
export interface CodeAsk extends LedgerScope {
  tool: string;
  limits: Limits;
  owner: string;
}

export type Decision =
  | { kind: 'replay'; entry: LedgerEntry }
  | { kind: 'wait'; on: LedgerEntry }
  /** A human's yes is needed first; nothing was written. */
  | { kind: 'ask'; need: Need }
  | { kind: 'send'; entry: LedgerEntry; resent?: LedgerEntry };

const refuse = (code: string, message: string, hint: string, extra: Partial<ToolErrorBody> = {}) =>
  new ToolError({ code, message, hint, retryable: false, source: 'safety', outcome: 'not_sent', ...extra });

const when = (ms: number) => new Date(ms).toISOString();

/** The reserve rules; throws a `not_sent` ToolError for a refusal. Pure: reads only the view. */
export function decide(view: LedgerView, ask: ReserveAsk): Decision {
  const { fingerprint: fp, meaning, customer, agentKey, now } = ask;
  const moved = ask.moved ?? ask.points;
  const sameOp = (e: LedgerEntry) => (e.meaning ?? e.fingerprint) === meaning || e.fingerprint === fp;
  if (agentKey) {
    const other = view.byKey(agentKey);
    if (other && !sameOp(other))
      throw refuse(
        'key_conflict',
        `external_reference_number "${agentKey}" was already used for a different ${other.tool} call${other.status === 'pending' ? ' (still in flight)' : ''}.`,
        'Use a new external_reference_number for a different operation.',
      );
    if (other && other.status === 'failed' && other.error?.outcome !== 'not_sent')
      throw refuse(
        'key_failed',
        `external_reference_number "${agentKey}" belongs to a failed attempt; Capillary does not accept it again.`,
        'Pass a new external_reference_number to try again.',
      );
  }
  let resend: LedgerEntry | undefined;
  for (const u of view.unresolved(ask.ids)) {
    if (u.status === 'pending' && ask.live(u)) return { kind: 'wait', on: u };
    if (!sameOp(u)) throw unresolvedRefusal(u);
    resend ??= u;
  }
  if (resend && !ask.resendable)
    throw refuse(
      'outcome_unknown',
      `An identical ${ask.tool} call at ${when(resend.at)} has an unknown outcome, and this API cannot deduplicate a re-send, so it is not sent again.`,
      `Check get_points_balance. An operator settles the attempt (${resend.key}) with \`capillary-loyalty-mcp settle\`; until then money calls for this customer are refused.`,
      { attempt: attemptOf(resend) },
    );
  if (!resend) {
    // By meaning: a repeat that differs only cosmetically (notes, a `+`, an extra identifier of
    // the same customer key) is the same operation, replayed. By bytes too, for entries written
    // before meanings were recorded.
    for (const prev of [view.latestByMeaning(meaning), view.latest(fp)])
      if (prev && prev.status === 'succeeded' && prev.result && now - prev.at <= ask.windowMs)
        return { kind: 'replay', entry: prev };
  }
  // A re-sent attempt is in the window already, unless its latest send is older than the window.
  const counted = resend && resend.at >= now - DAY_MS ? resend.points : 0;
  const capped = capRefusal(view, ask.limits, { customer, points: ask.points, now, counted });
  if (capped) throw capped;
  let approval: string | undefined;
  if (!resend) {
    const c = { customer, ids: ask.ids, meaning, moved, now, policy: ask.confirm, approval: ask.approval };
    const need = confirmNeed(view, c);
    if (need) {
      const yes = approvalOf(view, c);
      if (!yes) return { kind: 'ask', need };
      approval = yes.key;
    }
  }
  const entry: LedgerEntry = {
    key: resend?.key ?? agentKey ?? mintKey(ask.keyPrefix),
    fingerprint: fp,
    meaning,
    tool: ask.tool,
    customer,
    ...(ask.ids.length > 1 ? { ids: ask.ids.filter((i) => i !== customer) } : {}),
    points: ask.points,
    ...(moved !== ask.points ? { moved } : {}),
    ...(approval ? { approval } : resend?.approval ? { approval: resend.approval } : {}),
    status: 'pending',
    // A re-send counts against the caps in the window of its latest send.
    at: now,
    first_at: resend ? (resend.first_at ?? resend.at) : now,
    updated: now,
    agent_key: !!agentKey,
    owner: ask.owner,
  };
  return { kind: 'send', entry, resent: resend };
}

/** The reserve step for a validation code: the customer's rate, then the line that counts it. */
export function decideCode(view: LedgerView, ask: CodeAsk): Decision {
  const refused = codeRefusal(view, ask.limits, ask);
  if (refused) throw refused;
  const entry: LedgerEntry = {
    kind: 'code',
    key: mintKey('mcp-code'),
    fingerprint: 'code',
    tool: ask.tool,
    customer: ask.customer,
    ...(ask.ids.length > 1 ? { ids: ask.ids.filter((i) => i !== ask.customer) } : {}),
    points: 0,
    status: 'succeeded',
    at: ask.now,
    updated: ask.now,
    agent_key: false,
    owner: ask.owner,
  };
  return { kind: 'send', entry };
}

/** What an agent is told about the attempt that blocks a customer. */
export const attemptOf = (u: LedgerEntry) => ({
  tool: u.tool,
  key: u.key,
  points: u.points,
  first_sent: when(u.first_at ?? u.at),
  last_sent: when(u.at),
});

function unresolvedRefusal(u: LedgerEntry): ToolError {
  return refuse(
    'unresolved_attempt',
    `This customer has a ${u.tool} attempt of ${u.points} points (key ${u.key}, last sent ${when(u.at)}) whose outcome is unknown, so no other money call is sent for them until it is resolved.`,
    `Two ways out: repeat that identical ${u.tool} call (it is re-sent with the same key, which Capillary deduplicates), or have an operator settle it: \`capillary-loyalty-mcp settle --key ${u.key} --as applied|not-applied\`.`,
    { attempt: attemptOf(u) },
  );
}
