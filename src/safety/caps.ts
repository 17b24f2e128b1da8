// The operator's point caps, checked before anything is sent.
import { ToolError } from '../errors.js';
import { pointsString } from '../toolkit/fields.js';

export interface CapLimits {
  maxPointsPerRedemption?: number;
  maxPointsPerCustomerPerDay?: number;
}

/** Points a customer has moved since a time, as the ledger counts them. */
export type SpentSince = (customer: string, since: number) => Promise<number>;

/**
 * Refuses a call whose points exceed the per-call cap or what is left of the customer's rolling
 * 24 h cap. `alreadyCounted`: points of an entry this call replaces (a re-send), not counted twice.
 */
export async function checkCaps(
  limits: CapLimits,
  spentSince: SpentSince,
  customer: string,
  points: number,
  alreadyCounted = 0,
): Promise<void> {
  if (points <= 0) return;
  const spent =
    limits.maxPointsPerCustomerPerDay === undefined
      ? 0
      : (await spentSince(customer, Date.now() - 86_400_000)) - alreadyCounted;
  const refusal = capRefusal(limits, points, spent);
  if (refusal) throw refusal;
}

/** The refusal for `points` given what the customer has `spent` in the last 24 h, if any. */
export function capRefusal(limits: CapLimits, points: number, spent: number): ToolError | undefined {
  const { maxPointsPerRedemption: perCall, maxPointsPerCustomerPerDay: perDay } = limits;
  if (points <= 0) return undefined;
  if (perCall !== undefined && points > perCall)
    return new ToolError({
      code: 'cap_per_redemption',
      message: `points: ${pointsString(points)} exceeds the cap of ${pointsString(perCall)} points per redemption (CAPILLARY_MAX_POINTS_PER_REDEMPTION).`,
      hint: `Redeem at most ${pointsString(perCall)} points in one call, or ask an operator.`,
      retryable: false,
      source: 'safety',
      outcome: 'not_sent',
      field: 'points',
    });
  if (perDay !== undefined) {
    const left = Math.max(0, Math.round((perDay - spent) * 1000) / 1000);
    if (points > left)
      return new ToolError({
        code: 'cap_per_customer_per_day',
        message: `points: ${pointsString(points)} exceeds what is left of this customer's cap of ${pointsString(perDay)} points per 24 h (CAPILLARY_MAX_POINTS_PER_CUSTOMER_PER_DAY): ${pointsString(left)} left.`,
        hint:
          left > 0
            ? `At most ${pointsString(left)} points can be redeemed for this customer now.`
            : 'No more redemptions for this customer until the 24 h window moves on.',
        retryable: false,
        source: 'safety',
        outcome: 'not_sent',
        field: 'points',
      });
  }
  return undefined;
}
