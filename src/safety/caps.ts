/**
 * The operator's limits, as budgets over time: points per redemption, per customer and per
 * server (every customer) in a rolling 24 h, and validation codes per customer per hour. Each is
 * read from the ledger's running sums at the moment of the reserve step (reserve.ts), under the
 * lock every process on the data dir shares, so no interleaving of calls gets past one. Pending
 * and unknown attempts count, and so do maker-checker requests when they are filed (promises to
 * spend). A refusal says which limit, its value, what is left and when it frees up (`limit`).
 */
import { type ErrorSource, ToolError, type ToolErrorBody } from '../errors.js';
import { pointsString } from '../toolkit/fields.js';
import { ALL } from './ledger-index.js';
import type { LedgerView } from './reserve.js';

export const DAY_MS = 86_400_000;
export const HOUR_MS = 3_600_000;

export interface Limits {
  maxPointsPerRedemption?: number;
  maxPointsPerCustomerPerDay?: number;
  maxPointsPerServerPerDay?: number;
  maxCodesPerCustomerPerHour?: number;
}

/** What a refusal says about the limit that refused. */
export type LimitReport = NonNullable<ToolErrorBody['limit']>;

const when = (ms: number) => new Date(ms).toISOString();
const round3 = (n: number) => Math.round(n * 1000) / 1000;

/** A `not_sent` refusal by a limit (also used by the confirmation rules). */
export function limitRefusal(
  code: string,
  message: string,
  hint: string,
  limit: LimitReport,
  extra: { field?: string; source?: ErrorSource; retryable?: boolean } = {},
): ToolError {
  return new ToolError({
    code,
    message,
    hint,
    retryable: extra.retryable ?? false,
    source: extra.source ?? 'safety',
    outcome: 'not_sent',
    ...(extra.field ? { field: extra.field } : {}),
    limit,
  });
}

export interface CapAsk {
  customer: string;
  points: number;
  now: number;
  /** Points of an attempt this call re-sends, already in the window: not counted twice. */
  counted: number;
}

/** The cap rules, in order: per redemption, per customer per 24 h, per server per 24 h. */
export function capRefusal(view: LedgerView, limits: Limits, a: CapAsk): ToolError | undefined {
  const { points } = a;
  if (points <= 0) return undefined;
  const perCall = limits.maxPointsPerRedemption;
  if (perCall !== undefined && points > perCall)
    return limitRefusal(
      'cap_per_redemption',
      `points: ${pointsString(points)} exceeds the cap of ${pointsString(perCall)} points per redemption (CAPILLARY_MAX_POINTS_PER_REDEMPTION).`,
      `Redeem at most ${pointsString(perCall)} points in one call, or ask an operator.`,
      { name: 'CAPILLARY_MAX_POINTS_PER_REDEMPTION', value: perCall, left: perCall },
      { field: 'points' },
    );
  const daily = [
    {
      code: 'cap_per_customer_per_day',
      name: 'CAPILLARY_MAX_POINTS_PER_CUSTOMER_PER_DAY',
      value: limits.maxPointsPerCustomerPerDay,
      who: a.customer,
      whose: "this customer's cap",
    },
    {
      code: 'cap_per_server_per_day',
      name: 'CAPILLARY_MAX_POINTS_PER_SERVER_PER_DAY',
      value: limits.maxPointsPerServerPerDay,
      who: ALL,
      whose: "the server's cap (all customers)",
    },
  ] as const;
  const since = a.now - DAY_MS;
  for (const cap of daily) {
    if (cap.value === undefined) continue;
    const spent = view.spentSince(cap.who, since) - a.counted;
    const left = Math.max(0, round3(cap.value - spent));
    if (points <= left) continue;
    // Enough frees up once the oldest attempts in the window, holding the excess, are 24 h old.
    const oldest =
      points > cap.value
        ? undefined
        : view.freedBy('spent', cap.who, since, spent + points - cap.value + a.counted);
    const frees = oldest === undefined ? undefined : oldest + DAY_MS + 1;
    const freesText =
      frees === undefined
        ? points > cap.value
          ? ' This call alone is larger than the cap.'
          : ''
        : ` Enough frees up at ${when(frees)}.`;
    return limitRefusal(
      cap.code,
      `points: ${pointsString(points)} exceeds what is left of ${cap.whose} of ${pointsString(cap.value)} points per 24 h (${cap.name}): ${pointsString(left)} left.${freesText}`,
      left > 0
        ? `At most ${pointsString(left)} points can be redeemed${cap.who === ALL ? '' : ' for this customer'} now.`
        : `No more redemptions${cap.who === ALL ? '' : ' for this customer'} until the 24 h window moves on${frees === undefined ? '' : ` (${when(frees)})`}.`,
      { name: cap.name, value: cap.value, left, ...(frees === undefined ? {} : { frees_at: when(frees) }) },
      { field: 'points' },
    );
  }
  return undefined;
}

/** The rate of validation codes (each one a message to the customer) per customer per hour. */
export function codeRefusal(
  view: LedgerView,
  limits: Limits,
  a: { customer: string; now: number },
): ToolError | undefined {
  const max = limits.maxCodesPerCustomerPerHour;
  if (max === undefined) return undefined;
  const since = a.now - HOUR_MS;
  const sent = view.codesSince(a.customer, since);
  if (sent < max) return undefined;
  const oldest = max === 0 ? undefined : view.freedBy('codes', a.customer, since, sent - max + 1);
  const frees = oldest === undefined ? undefined : oldest + HOUR_MS + 1;
  return limitRefusal(
    'code_rate_limited',
    max === 0
      ? 'issue_redemption_code is switched off by the operator (CAPILLARY_MAX_CODES_PER_CUSTOMER_PER_HOUR=0); nothing was sent.'
      : `${sent} validation code(s) were sent to this customer in the last hour, the most allowed (CAPILLARY_MAX_CODES_PER_CUSTOMER_PER_HOUR=${max}); nothing was sent.${frees === undefined ? '' : ` The next one may be sent at ${when(frees)}.`}`,
    'Ask the customer for the code they already received (a repeat within its validity resends the same code); do not send more.',
    {
      name: 'CAPILLARY_MAX_CODES_PER_CUSTOMER_PER_HOUR',
      value: max,
      left: 0,
      ...(frees === undefined ? {} : { frees_at: when(frees) }),
    },
    { field: 'customer' },
  );
}
