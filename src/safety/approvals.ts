/**
 * Approvals on a page: a human's yes that works in every client, and that the model cannot give.
 *
 * When a money call needs a yes (confirm.ts) and the client cannot ask one (no form elicitation),
 * or the operator wants every yes given on the page (CAPILLARY_APPROVAL=console), the call writes
 * an approval request to the ledger (kind `approval`: an unguessable handle, the operation's
 * meaning, customer, points, tool, the facts shown, why, an expiry) and returns `approval_pending`
 * with a link to the approval page. An operator, signed in on that page with a credential the
 * model never sees (src/console/), approves or declines: that writes the same `answer` line an
 * elicitation writes, keyed by the handle, at most once (IdempotencyStore.answerOnce). The
 * agent's identical repeat then finds the yes by meaning (approvalOf in confirm.ts) and spends it
 * once; a "no" starts the customer's cooldown, and the repeat is refused.
 *
 * Everything is in the ledger, so any process on the data dir or the database serves the page
 * and the repeat.
 */
import { randomBytes } from 'node:crypto';
import { ToolError } from '../errors.js';
import { aboutQuestion, type Need, type Question, whyAsked } from './confirm.js';
import type { IdempotencyStore, LedgerEntry } from './ledger.js';

/** A new approval handle: 144 random bits, URL-safe. */
export const newHandle = (): string => `ap-${randomBytes(18).toString('base64url')}`;
/** Whether a string has the shape of a handle (checked before any look-up). */
export const isHandle = (s: string): boolean => /^ap-[A-Za-z0-9_-]{24}$/.test(s);
/** The request's ledger key; the answer's key is the handle itself (one answer per handle). */
export const requestKey = (handle: string) => `request:${handle}`;
const handleOf = (request: LedgerEntry) => request.key.slice('request:'.length);

export type ApprovalStatus = 'pending' | 'approved' | 'declined' | 'expired';

export interface ApprovalState {
  handle: string;
  request: LedgerEntry;
  answer?: LedgerEntry;
  status: ApprovalStatus;
  /** An approved request whose yes an attempt has spent. */
  used?: LedgerEntry;
}

function stateOf(request: LedgerEntry, around: LedgerEntry[], now: number): ApprovalState {
  const handle = handleOf(request);
  const answer = around.find((e) => e.kind === 'answer' && e.key === handle);
  const used = around.find((e) => e.kind === undefined && e.approval === handle && e.status !== 'failed');
  const status: ApprovalStatus = answer
    ? answer.answer === 'accept'
      ? 'approved'
      : 'declined'
    : now > (request.expires ?? 0)
      ? 'expired'
      : 'pending';
  return { handle, request, ...(answer ? { answer } : {}), status, ...(used ? { used } : {}) };
}

/** Every approval request written since a time (of one operation), newest first, with its state. */
export async function approvals(store: IdempotencyStore, since: number, now = Date.now(), meaning?: string) {
  const recent = await store.recent(since, meaning === undefined ? {} : { meaning });
  return recent.filter((e) => e.kind === 'approval').map((r) => stateOf(r, recent, now));
}

/** One approval request by handle (looked for since `since`), with its state. */
export async function approvalByHandle(
  store: IdempotencyStore,
  handle: string,
  since: number,
  now = Date.now(),
): Promise<ApprovalState | undefined> {
  if (!isHandle(handle)) return undefined;
  const recent = await store.recent(since);
  const request = recent.find((e) => e.kind === 'approval' && e.key === requestKey(handle));
  return request && stateOf(request, recent, now);
}

export interface RequestDeps {
  store: IdempotencyStore;
  owner: string;
  /** How long a request takes an answer (CAPILLARY_APPROVAL_TTL_SECONDS, in ms). */
  ttlMs: number;
  /** How long a "no" is remembered (the look-back for an operation's earlier request). */
  cooldownMs: number;
}

/**
 * The approval request for this operation: the one still pending (a repeat before the human
 * answered gets the same handle), else a new one, durably in the ledger. Throws the refusal when
 * a human declined this very operation and the cooldown that started is still running.
 */
export async function requestApproval(
  d: RequestDeps,
  q: Question,
  need: Need,
  now = Date.now(),
): Promise<ApprovalState> {
  const mine = await approvals(d.store, now - Math.max(d.ttlMs, d.cooldownMs), now, q.meaning);
  const pending = mine.find((s) => s.status === 'pending');
  if (pending) return pending;
  if (need.why === 'cooldown' && mine.some((s) => s.answer && s.answer.key === need.declined.key))
    throw new ToolError({
      code: 'confirmation_declined',
      message: `A human declined this operation on the approval page at ${new Date(need.declined.at).toISOString()}; nothing was sent. Until ${new Date(need.until).toISOString()} every money call for this customer needs a human's yes (CAPILLARY_CONFIRM_COOLDOWN_SECONDS).`,
      hint: 'Do not retry, split the amount or use another identifier; tell the human. Only an operator can lift the cooldown.',
      retryable: false,
      source: 'safety',
      outcome: 'not_sent',
      limit: {
        name: 'CAPILLARY_CONFIRM_COOLDOWN_SECONDS',
        value: need.cooldownMs / 1000,
        left: 0,
        frees_at: new Date(need.until).toISOString(),
      },
    });
  const handle = newHandle();
  const request: LedgerEntry = {
    kind: 'approval',
    key: requestKey(handle),
    fingerprint: `approval:${handle}`,
    ...aboutQuestion(q, now),
    expires: now + d.ttlMs,
    shown: { title: q.title, summary: q.summary, facts: q.facts, why: whyAsked(need) },
    owner: d.owner,
  };
  await d.store.put(request);
  return { handle, request, status: 'pending' };
}

/** The `not_sent` result of a call waiting for a human on the approval page. */
export function pendingError(s: ApprovalState, url: string | undefined): ToolError {
  const expires = new Date(s.request.expires ?? 0).toISOString();
  const shown = s.request.shown;
  return new ToolError({
    code: 'approval_pending',
    message: `This call needs a human's yes and nothing was sent. ${shown?.why ?? ''} Approval ${s.handle} is waiting for a human${url ? ` on the approval page: ${url}` : ' on the operator console'} (until ${expires}). What will happen once approved: ${shown?.summary ?? s.request.tool}.`,
    hint: `Ask the human to open ${url ?? 'the operator console'} and approve or decline it (they sign in as an operator; you cannot approve it). Then repeat this identical call: approved, it is sent exactly once; declined, it is refused. Do not change the call, split the amount or use another identifier.`,
    retryable: true,
    source: 'safety',
    outcome: 'not_sent',
    approval: { id: s.handle, status: 'pending', expires, ...(url ? { url } : {}) },
  });
}

export type AnswerRefusal = 'unknown' | 'expired' | 'answered';

/**
 * A human's answer on the approval page: written once, before the request expires, as the same
 * `answer` line an elicitation writes (a yes for this operation's meaning; a "no" starts the
 * customer's cooldown). Never for another operation: the line carries the request's own meaning.
 */
export async function answerApproval(
  store: IdempotencyStore,
  s: ApprovalState,
  answer: 'accept' | 'decline',
  by: string,
  now = Date.now(),
): Promise<AnswerRefusal | undefined> {
  if (s.status === 'approved' || s.status === 'declined') return 'answered';
  if (now > (s.request.expires ?? 0)) return 'expired';
  const r = s.request;
  const written = await store.answerOnce({
    kind: 'answer',
    key: s.handle,
    fingerprint: `answer:${s.handle}`,
    ...(r.meaning ? { meaning: r.meaning } : {}),
    tool: r.tool,
    customer: r.customer,
    ...(r.ids ? { ids: r.ids } : {}),
    points: 0,
    ...(r.moved !== undefined ? { moved: r.moved } : {}),
    answer,
    status: 'succeeded',
    at: now,
    updated: now,
    agent_key: false,
    by,
    ...(r.owner ? { owner: r.owner } : {}),
  });
  return written ? undefined : 'answered';
}

/** A customer in cooldown after a human's "no": the newest "no" under each customer key. */
export function cooldowns(recent: LedgerEntry[], cooldownMs: number, now = Date.now()): LedgerEntry[] {
  const newest = new Map<string, LedgerEntry>();
  for (const e of recent)
    if (e.kind === 'answer' && e.answer !== 'accept' && e.at >= now - cooldownMs && !newest.has(e.customer))
      newest.set(e.customer, e);
  return [...newest.values()].filter((e) => e.answer !== 'lift');
}

/** Ends a customer's cooldown by hand: a `lift` line after their newest "no", naming who and why. */
export async function liftCooldown(
  store: IdempotencyStore,
  declined: LedgerEntry,
  by: string,
  owner: string,
  now = Date.now(),
): Promise<void> {
  await store.put({
    kind: 'answer',
    key: `lift-${randomBytes(12).toString('base64url')}`,
    fingerprint: `lift:${declined.key}`,
    tool: declined.tool,
    customer: declined.customer,
    ...(declined.ids ? { ids: declined.ids } : {}),
    points: 0,
    answer: 'lift',
    status: 'succeeded',
    at: now,
    updated: now,
    agent_key: false,
    by,
    owner,
  });
}
