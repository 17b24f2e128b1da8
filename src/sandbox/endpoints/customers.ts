/**
 * Customer lookups: GET /v2/customers/lookup/customerDetails (who is this? Capillary's customer
 * id and identifiers) and GET /v2/customers/lookup/points/balance.
 */
import { type Params, type Reply, reply, type SandboxCore, text, v2Error } from '../core.js';
import { identifierKind, resolveV2 } from '../identity.js';
import { milliToNumber } from '../points.js';
import type { CustomerRec } from '../state.js';

/** source, identifierName and identifierValue, all required; null when one is missing. */
function lookupQuery(q: Params): { name: string; value: string } | null {
  const name = text(q.get('identifierName'));
  const value = text(q.get('identifierValue'));
  return name === null || value === null || text(q.get('source')) === null ? null : { name, value };
}

const MISSING = 'Invalid identifier: source, identifierName and identifierValue are required';

/** The customer's identifiers as Capillary's v2 profiles list them. */
function identifiers(c: CustomerRec): Array<{ type: string; value: string }> {
  const list = [{ type: 'mobile', value: c.mobile }];
  if (c.email !== null) list.push({ type: 'email', value: c.email });
  if (c.externalId !== null) list.push({ type: 'externalId', value: c.externalId });
  if (c.cardNumber !== null) list.push({ type: 'cardnumber', value: c.cardNumber });
  if (c.cuid !== null) list.push({ type: 'cuid', value: c.cuid });
  return list;
}

/** GET /v2/customers/lookup/customerDetails */
export function customerDetails(core: SandboxCore, q: Params): Reply {
  const ask = lookupQuery(q);
  if (!ask) return v2Error(400, 8015, MISSING);
  if (identifierKind(ask.name) === null) {
    return v2Error(400, 8015, `Invalid identifier: unsupported identifierName ${ask.name}`);
  }
  const c = resolveV2(core.store, ask.name, ask.value);
  if (!c) return v2Error(404, 8015, 'Customer not found for given identifiers');
  return reply(200, {
    id: c.id,
    profiles: [{ identifiers: identifiers(c), source: 'INSTORE', accountId: '' }],
    loyaltyInfo: { loyaltyType: 'loyalty' },
    warnings: [],
  });
}

/** GET /v2/customers/lookup/points/balance */
export function balance(core: SandboxCore, q: Params): Reply {
  const ask = lookupQuery(q);
  if (!ask) return v2Error(400, 8015, MISSING);
  const c = resolveV2(core.store, ask.name, ask.value);
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
        ...(p.promotionId !== null ? { promotionId: p.promotionId } : {}),
        ...(p.promotionIdentifier !== null ? { promotionIdentifier: p.promotionIdentifier } : {}),
        ...(p.promotionName !== null ? { promotionName: p.promotionName } : {}),
      })),
    },
    errors: [],
    warnings: [],
  });
}
