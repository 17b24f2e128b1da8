/**
 * Customer lookups: GET /v2/customers/lookup/points/balance.
 */
import { type Params, type Reply, reply, type SandboxCore, text, v2Error } from '../core.js';
import { resolveV2 } from '../identity.js';
import { milliToNumber } from '../points.js';

/** GET /v2/customers/lookup/points/balance */
export function balance(core: SandboxCore, q: Params): Reply {
  const idName = text(q.get('identifierName'));
  const idValue = text(q.get('identifierValue'));
  if (idName === null || idValue === null || text(q.get('source')) === null) {
    return v2Error(400, 8015, 'Invalid identifier: source, identifierName and identifierValue are required');
  }
  const c = resolveV2(core.store, idName, idValue);
  if (!c) return v2Error(404, 8015, 'Invalid identifier: customer not found');
  const locked = c.promised.filter((p) => p.unlockedAt === null);
  const promisedMilli = locked.reduce((s, p) => s + p.pointsMilli, 0);
  return reply(200, {
    data: {
      customerId: c.id,
      mobile: c.mobile,
      email: c.email,
      externalId: c.externalId,
      loyaltyPoints: milliToNumber(c.pointsMilli),
      promisedPoints: milliToNumber(promisedMilli),
      redeemedPoints: milliToNumber(c.redeemedMilli),
      reversedPoints: milliToNumber(c.reversedMilli),
      promised: locked.map((p) => ({
        billNumber: p.billNumber,
        itemCode: p.itemCode,
        lineItemId: p.lineItemId,
        points: milliToNumber(p.pointsMilli),
        programId: p.programId,
        eventName: p.eventName,
        eventLogId: p.eventLogId,
      })),
    },
    errors: [],
    warnings: [],
  });
}
