/**
 * The outcome rules: what an upstream answer proves about a call that moves points. This is the
 * one place they are decided; the client reports what happened on the wire and what the
 * envelope said (an EnvelopeReading), and the pipeline asks here what that means.
 *
 * - `not_sent`: the request never left (connection refused, cancelled before sending, a local
 *   refusal). Nothing moved.
 * - `failed`: Capillary's own envelope refused the request with a documented refusal code, on
 *   an answer that can carry one. Nothing moved.
 * - `unknown`: every other answer after the request may have reached the upstream: any 5xx but
 *   a documented refusal in a 500, 408, 429, 499, a proxy's page, a body that cannot be read, a
 *   reset, a timeout, a 2xx that is not a success envelope. Points may have moved.
 *
 * A re-send of an attempt whose outcome is unknown is settled only by an answer about its key:
 * a success (Capillary returns the original result for a key it has), or a documented refusal of
 * the item itself (813, 816, ...): Capillary answers a key it committed with the original result,
 * so a refusal of the item proves the key was never committed. A request-level refusal (401, 429,
 * 521, ...) says nothing about the first attempt, which may have been applied: it stays unknown.
 */
import { type AnswerReading, ToolError } from '../errors.js';

export type MoneyOutcome = 'not_sent' | 'failed' | 'unknown';

/** What the envelope of an answer said, as read by the client (no judgement). */
export type EnvelopeReading = AnswerReading;

/** Item-level codes Capillary documents as refusals of a redemption (nothing deducted). */
const REDEEM_REFUSALS = [
  801, 803, 804, 807, 808, 811, 813, 816, 818, 819, 821, 824, 828, 830, 860, 878, 1632, 3045, 3316, 605, 874,
  875, 876,
];
/** v2 codes documented as refusals of a reversal or a lookup (nothing restored). */
const V2_REFUSALS = [804, 816, 817, 818, 827, 878, 901, 902, 903, 904, 3801, 3802, 8015, 1632, 1645];
/**
 * A maker-checker filing whose validation output is false (ValidateMakerAccess_Output,
 * ValidatePayload_Output): the workflow stops there and its redemption never runs.
 */
export const WORKFLOW_REFUSALS = ['maker_access_denied', 'workflow_payload_invalid'];
/**
 * Request-level codes documented as "nothing done": all requests failed (400-461), rate limited
 * (429), another action running for the customer (521). Believed only in Capillary's envelope and
 * when the HTTP status says the same.
 */
const REQUEST_REFUSALS = [400, 401, 403, 404, 405, 415, 429, 461, 521];

export const OUTCOME_TABLE = {
  'v1.1 item': new Set(REDEEM_REFUSALS.map(String)),
  'v1.1 request': new Set(REQUEST_REFUSALS.map(String)),
  v2: new Set([...V2_REFUSALS.map(String), ...WORKFLOW_REFUSALS]),
} as const;

/**
 * HTTP statuses on which a refusal envelope is believed: 2xx, the 4xx that mean "refused"
 * (not 408 request timeout, 429 rate limit or 499 client closed, which say nothing of what was
 * processed), and 500 (Capillary's documented "All requests have failed" answer). Never a
 * 502/503/504: those come from whatever stands between, whatever body they carry.
 */
const believable = (status: number) =>
  (status >= 200 && status < 300) ||
  (status >= 400 && status < 500 && status !== 408 && status !== 429 && status !== 499) ||
  status === 500;

/** Whether an answer proves a refusal: a documented code in Capillary's own envelope. */
export function provesRefusal(r: EnvelopeReading | undefined): boolean {
  if (!r || r.form === 'none' || r.code === undefined) return false;
  const code = String(r.code);
  if (r.form === 'v1.1' && r.level === 'item')
    return believable(r.status) && OUTCOME_TABLE['v1.1 item'].has(code);
  if (r.form === 'v2' && believable(r.status) && OUTCOME_TABLE.v2.has(code)) return true;
  // A request-level refusal is believed only when the HTTP status says the same thing.
  return OUTCOME_TABLE['v1.1 request'].has(code) && String(r.status) === code;
}

/**
 * The outcome of a money call that did not succeed. `resend`: the call re-sent the key of an
 * attempt whose outcome is unknown.
 */
export function moneyOutcome(e: unknown, resend: boolean): MoneyOutcome {
  if (!(e instanceof ToolError)) return 'unknown';
  if (e.body.outcome === 'not_sent') return 'not_sent';
  if (!provesRefusal(e.reading)) return 'unknown';
  if (!resend) return 'failed';
  const r = e.reading!;
  const aboutTheItem =
    (r.form === 'v1.1' && r.level === 'item') || (r.form === 'v2' && OUTCOME_TABLE.v2.has(String(r.code)));
  return aboutTheItem ? 'failed' : 'unknown';
}
