/**
 * Confirmation as a budget: a human's yes, asked through the client (MCP elicitation).
 *
 * The rules (read by the reserve step, reserve.ts, so they are atomic with the pending entry):
 * - a money call needs a yes when the points moved for its customer in the confirmation window,
 *   this call included, would exceed the threshold: splitting a large amount gains nothing.
 *   Reversals count; a reversal of "all" always asks;
 * - a human's "no" (decline or cancel) is remembered in the ledger: for the cooldown, every money
 *   call for that customer needs a yes, whatever its points;
 * - a yes is recorded in the ledger, bound to the operation (by meaning) and spent by one attempt
 *   (a failed attempt gives it back): the repeat of that operation does not ask again, and its
 *   points count toward the budget like any other.
 *
 * A yes comes only from the server's own record of the question it asked (Questions: an
 * unguessable id, one use, a short expiry, tied to the operation's fingerprint), never from
 * anything the client sends on its own: there is no argument to set, and an answer is taken only
 * as the reply to that question.
 */
import { randomUUID } from 'node:crypto';
import { ToolError } from '../errors.js';
import type { Logger } from '../log.js';
import { pointsString } from '../toolkit/fields.js';
import { limitRefusal } from './caps.js';
import type { HumanAnswer, LedgerEntry } from './ledger.js';
import type { LedgerView } from './reserve.js';

/** What the client's human answered. */
export type Answer = Exclude<HumanAnswer, 'lift'>;
/** Asks the human; undefined when the client cannot ask. */
export type Ask = ((message: string, title: string) => Promise<Answer>) | undefined;

/**
 * The 2026-07-28 way to ask (input_required): the call ends with the question, and the client's
 * retry of the same call carries the answer and the server's signed state (src/mcp/state.ts).
 */
export interface Rounds {
  /**
   * The answer this round carries for the operation with this fingerprint, under the question's
   * id; undefined on a first round. Throws a refusal when the round's state is another operation's.
   */
  answer(fingerprint: string): { id: string; answer: Answer; issued: number } | undefined;
  /** Ends the call with the question: throws an InputNeeded. */
  ask(fingerprint: string, message: string, title: string): Promise<never>;
}

/** Not an error: the call ends by asking the client for input; `result` is what it answers. */
export class InputNeeded extends Error {
  constructor(readonly result: unknown) {
    super('input required');
    this.name = 'InputNeeded';
  }
}

/** The operator's confirmation settings. */
export interface ConfirmPolicy {
  /** CAPILLARY_CONFIRM_ABOVE_POINTS; undefined: nobody is asked. */
  above?: number;
  /** CAPILLARY_CONFIRM_WINDOW_SECONDS, in ms. */
  windowMs: number;
  /** CAPILLARY_CONFIRM_COOLDOWN_SECONDS, in ms. */
  cooldownMs: number;
}

/** Why a call needs a human's yes. */
export type Need =
  | {
      why: 'budget';
      above: number;
      /** Points already moved for the customer in the window. */
      moved: number;
      /** This call's points. */
      points: number;
      windowMs: number;
      /** When the window has freed enough for this call to need no yes. */
      freesAt?: number;
    }
  | { why: 'all'; above: number }
  | { why: 'cooldown'; declined: LedgerEntry; until: number; cooldownMs: number };

export interface ConfirmAsk {
  customer: string;
  ids: string[];
  meaning: string;
  /** Points this call moves for the customer; "all" for a reversal of everything left. */
  moved: number | 'all';
  now: number;
  policy?: ConfirmPolicy;
  /** The question this very call had a yes to, if any. */
  approval?: string;
}

/** Whether the call needs a human's yes, and why; undefined when it does not. */
export function confirmNeed(view: LedgerView, a: ConfirmAsk): Need | undefined {
  const p = a.policy;
  if (p?.above === undefined) return undefined;
  const declined = view.declinedSince(a.ids, a.now - p.cooldownMs);
  if (declined)
    return { why: 'cooldown', declined, until: declined.at + p.cooldownMs + 1, cooldownMs: p.cooldownMs };
  if (a.moved === 'all') return { why: 'all', above: p.above };
  const since = a.now - p.windowMs;
  const moved = view.movedSince(a.customer, since);
  if (moved + a.moved <= p.above) return undefined;
  const first =
    a.moved > p.above ? undefined : view.freedBy('moved', a.customer, since, moved + a.moved - p.above);
  return {
    why: 'budget',
    above: p.above,
    moved,
    points: a.moved,
    windowMs: p.windowMs,
    ...(first === undefined ? {} : { freesAt: first + p.windowMs + 1 }),
  };
}

/**
 * A yes that covers this call: the one it was given, else the newest yes to the same operation
 * (by meaning), within the confirmation window and not yet spent by another attempt.
 */
export function approvalOf(view: LedgerView, a: ConfirmAsk): LedgerEntry | undefined {
  const windowMs = a.policy?.windowMs ?? 0;
  for (const yes of [a.approval ? view.approval(a.approval) : undefined, view.approvalFor(a.meaning)])
    if (
      yes &&
      yes.answer === 'accept' &&
      yes.meaning === a.meaning &&
      yes.at >= a.now - windowMs &&
      !view.approvalUsed(yes.key)
    )
      return yes;
  return undefined;
}

/** How long the answer to a question is awaited and accepted. */
export const QUESTION_TTL_MS = 120_000;

/** The server's own record of the questions it asked and has not had answered. */
export class Questions {
  private readonly open = new Map<string, { fingerprint: string; expires: number }>();

  /** A new question about the operation with this fingerprint: an unguessable id. */
  ask(fingerprint: string, now = Date.now()): { id: string; expires: number } {
    const id = `q-${randomUUID()}`;
    const expires = now + QUESTION_TTL_MS;
    this.open.set(id, { fingerprint, expires });
    return { id, expires };
  }

  /** Takes the answer to a question: once, in time, and only for the operation it was about. */
  take(id: string, fingerprint: string, now = Date.now()): boolean {
    const q = this.open.get(id);
    this.open.delete(id);
    return !!q && q.fingerprint === fingerprint && now <= q.expires;
  }

  /** Forgets a question that got no answer. */
  drop(id: string): void {
    this.open.delete(id);
  }

  get size(): number {
    return this.open.size;
  }
}

/** What the human is asked about: everything that makes the operation. */
export interface Question {
  tool: string;
  title: string;
  /** One line: what will happen. */
  summary: string;
  /** Every fact that makes the operation, as label and value (customer, points, program, ...). */
  facts: Array<[string, string]>;
  fingerprint: string;
  meaning: string;
  customer: string;
  ids: string[];
  moved: number | 'all';
}

/** What a ledger line about a question (its answer, an approval request) records of the
 * operation: 0 points and "succeeded", so that nothing counts it as an attempt. */
export const aboutQuestion = (q: Question, now: number) => ({
  meaning: q.meaning,
  tool: q.tool,
  customer: q.customer,
  ...(q.ids.length > 1 ? { ids: q.ids.filter((i) => i !== q.customer) } : {}),
  points: 0,
  moved: q.moved,
  status: 'succeeded' as const,
  at: now,
  updated: now,
  agent_key: false,
});

export interface HumanDeps {
  questions: Questions;
  ask: Ask;
  /** Set on a 2026-07-28 call whose client can answer an elicitation (input_required). */
  rounds?: Rounds;
  /**
   * Whether the question asked at `issued` has had its answer already (a question is answered
   * once): a yes recorded under its id, or a "no" for the customer since it was asked.
   */
  answered(id: string, issued: number): Promise<boolean>;
  /** Writes the answer to the ledger, durably. */
  record(e: LedgerEntry): Promise<void>;
  /** Writes the answer only if its question has none yet (atomic in the store); false if it had. */
  recordOnce(e: LedgerEntry): Promise<boolean>;
  log: Logger;
  owner: string;
  /** How long a "no" is remembered. */
  cooldownMs: number;
}

const when = (ms: number) => new Date(ms).toISOString();
const span = (ms: number) =>
  ms % 3_600_000 === 0 ? `${ms / 3_600_000} h` : ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`;
const movedText = (m: number | 'all' | undefined) =>
  m === 'all' ? 'all remaining' : m === undefined ? 'some' : pointsString(m);

/** Why the human is asked, in one sentence. */
export function whyAsked(need: Need): string {
  switch (need.why) {
    case 'budget':
      return need.moved > 0
        ? `${pointsString(need.moved)} points were already moved for this customer in the last ${span(need.windowMs)}; with this call that is ${pointsString(need.moved + need.points)}, above the ${pointsString(need.above)}-point confirmation threshold.`
        : `${pointsString(need.points)} points is above the ${pointsString(need.above)}-point confirmation threshold (per customer per ${span(need.windowMs)}).`;
    case 'all':
      return 'It returns all remaining points of the redemption, an amount not known in advance.';
    case 'cooldown':
      return `A human said no to a ${need.declined.tool} of ${movedText(need.declined.moved)} points for this customer at ${when(need.declined.at)}; until ${when(need.until)} every money call for them needs a yes.`;
  }
}

/** The limit a refusal for this need reports. */
function limitOf(need: Need) {
  if (need.why === 'cooldown')
    return {
      name: 'CAPILLARY_CONFIRM_COOLDOWN_SECONDS',
      value: need.cooldownMs / 1000,
      left: 0,
      frees_at: when(need.until),
    };
  if (need.why === 'all') return { name: 'CAPILLARY_CONFIRM_ABOVE_POINTS', value: need.above, left: 0 };
  return {
    name: 'CAPILLARY_CONFIRM_ABOVE_POINTS',
    value: need.above,
    left: Math.max(0, Math.round((need.above - need.moved) * 1000) / 1000),
    ...(need.freesAt === undefined ? {} : { frees_at: when(need.freesAt) }),
  };
}

/** The message the human reads: the operation, every fact of it, and why they are asked. */
export function questionText(q: Question, need: Need, expires: number): string {
  return [
    q.summary,
    ...q.facts.map(([k, v]) => `- ${k}: ${v}`),
    `Why you are asked: ${whyAsked(need)}`,
    `Proceed? (question expires at ${when(expires)})`,
  ].join('\n');
}

/**
 * Asks the human about one operation and records the answer in the ledger. Resolves with the
 * question's id on a yes; throws a `not_sent` refusal otherwise (a "no" is remembered).
 */
export async function askHuman(d: HumanDeps, q: Question, need: Need): Promise<string> {
  if (d.rounds) {
    const got = d.rounds.answer(q.fingerprint);
    if (!got)
      return d.rounds.ask(
        q.fingerprint,
        questionText(q, need, Date.now() + QUESTION_TTL_MS),
        `Confirm: ${q.title}`,
      );
    // Single use: the answer is recorded under the question's id, once; a "no" is not turned
    // into a yes by sending the state again; two retries racing on two replicas record it once
    // (recordOnce, atomic in the store).
    if (await d.answered(got.id, got.issued)) throw answerUsed();
    return recordAnswer(d, q, got.id, got.answer, true);
  }
  if (!d.ask)
    throw limitRefusal(
      'confirmation_unavailable',
      `This call needs a human's yes and confirmation is not available: this client cannot ask one (no form elicitation). ${whyAsked(need)}`,
      'Use a client that supports MCP elicitation, or ask an operator; nothing was sent.',
      limitOf(need),
    );
  const asked = d.questions.ask(q.fingerprint);
  let answer: Answer;
  try {
    answer = await d.ask(questionText(q, need, asked.expires), `Confirm: ${q.title}`);
  } catch (e) {
    // The question timed out, or the client went away or answered something unreadable.
    d.questions.drop(asked.id);
    d.log.warn('confirmation failed', { tool: q.tool, error: String(e) });
    throw new ToolError({
      code: 'confirmation_failed',
      message:
        'The confirmation could not be completed (no usable answer from the client); nothing was sent.',
      hint: 'Ask the human again, or ask an operator.',
      retryable: true,
      source: 'safety',
      outcome: 'not_sent',
    });
  }
  if (!d.questions.take(asked.id, q.fingerprint))
    throw new ToolError({
      code: 'confirmation_expired',
      message: `The answer came after the question expired (${QUESTION_TTL_MS / 1000} s) or was already used; nothing was sent.`,
      hint: 'Call again to ask the human again.',
      retryable: true,
      source: 'safety',
      outcome: 'not_sent',
    });
  return recordAnswer(d, q, asked.id, answer);
}

/** The refusal of an answer whose question was answered already. */
const answerUsed = () =>
  new ToolError({
    code: 'confirmation_expired',
    message: 'This answer was already used (each question is answered once); nothing was sent.',
    hint: 'Call again to ask the human again.',
    retryable: true,
    source: 'safety',
    outcome: 'not_sent',
  });

/**
 * Records a human's answer to a question in the ledger, bound to the operation's meaning.
 * Resolves with the question's id on a yes; throws a `not_sent` refusal otherwise (a "no" is
 * remembered).
 */
async function recordAnswer(
  d: HumanDeps,
  q: Question,
  id: string,
  answer: Answer,
  once = false,
): Promise<string> {
  const now = Date.now();
  const line: LedgerEntry = {
    kind: 'answer',
    key: id,
    fingerprint: `answer:${id}`,
    ...aboutQuestion(q, now),
    answer,
    owner: d.owner,
  };
  // An answer that arrives in a request (input_required) is written only if its question has
  // none yet, atomically in the store: two retries carrying one answer, on two replicas at the
  // same moment, record it once.
  if (once) {
    if (!(await d.recordOnce(line))) throw answerUsed();
  } else await d.record(line);
  if (answer === 'accept') return id;
  const until = now + d.cooldownMs + 1;
  throw limitRefusal(
    answer === 'decline' ? 'confirmation_declined' : 'confirmation_cancelled',
    `The human ${answer === 'decline' ? 'declined' : 'cancelled'} the confirmation; nothing was sent. This is remembered: until ${when(until)} every money call for this customer needs a human's yes (CAPILLARY_CONFIRM_COOLDOWN_SECONDS).`,
    'Do not retry, split the amount or use another identifier; tell the human. Only a human can approve a later call.',
    {
      name: 'CAPILLARY_CONFIRM_COOLDOWN_SECONDS',
      value: d.cooldownMs / 1000,
      left: 0,
      frees_at: when(until),
    },
  );
}
