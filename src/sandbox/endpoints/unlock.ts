/**
 * POST /v2/points/unlockPromisedPoints: promised points on a customer's bill join the redeemable
 * balance, each promised entry once.
 */
import { isObj, type Obj, type Params, type Reply, reply, type SandboxCore, text, v2Error } from '../core.js';
import { groupByIdentifier } from '../groups.js';
import { resolveV2 } from '../identity.js';
import { milliToNumber } from '../points.js';
import { EVENT_NAMES } from '../seed.js';

const EVENT_NAME_SET: ReadonlySet<string> = new Set(EVENT_NAMES);

/** A filter given as one value or an array: its texts, or null when absent or empty. */
function list(v: unknown): string[] | null {
  if (v === undefined || v === null) return null;
  const arr = Array.isArray(v) ? v : [v];
  const out = arr.map((x) => text(x)).filter((x): x is string => x !== null);
  return out.length ? out : null;
}

export function unlockPromisedPoints(core: SandboxCore, q: Params, body: unknown): Reply {
  const idName = text(q.get('identifierName'));
  const idValue = text(q.get('identifierValue'));
  const source = text(q.get('source'));
  if (idName === null || idValue === null || source === null) {
    return v2Error(400, 82323284, 'identifierName, identifierValue, or source cannot be empty');
  }
  const type = (text(q.get('type')) ?? 'CUSTOMER').toUpperCase();
  if (type === 'USERGROUP2' && !groupByIdentifier(core.store, idName, idValue)) {
    return v2Error(400, 1645, 'Group details passed are not valid');
  }
  if (type !== 'CUSTOMER' && type !== 'USERGROUP2') return v2Error(400, 82323276, 'Entity type invalid');
  const b: Obj = isObj(body) ? body : {};
  const billNumber = text(b.billNumber);
  if (billNumber === null) return v2Error(400, 82323271, 'Bill number missing');
  const eventName = text(b.eventName);
  if (eventName === null || !EVENT_NAME_SET.has(eventName))
    return v2Error(400, 82323272, 'Event name not found');
  // sandbox groups hold no promised points: a valid group has no bill to unlock
  if (type === 'USERGROUP2') return v2Error(400, 82323277, 'No bill found for given bill number');
  const c = resolveV2(core.store, idName, idValue);
  if (!c) return v2Error(400, 8015, 'Invalid identifier: customer not found');
  const gate = core.fault(c, 'v2');
  if ('stop' in gate) return gate.stop;
  const { out } = gate;

  const bills = c.promised.filter((p) => p.billNumber === billNumber);
  if (bills.length === 0) return out(v2Error(400, 82323277, 'No bill found for given bill number'));
  const eventLogIds = list(b.eventLogId);
  if (
    eventLogIds &&
    !bills.some((p) => p.eventLogId !== null && eventLogIds.includes(String(p.eventLogId)))
  ) {
    return out(v2Error(400, 3918, 'Error unlocking points: no eventLog found for given eventLogId'));
  }
  const itemCodes = list(b.itemCodes);
  const lineItemIds = list(b.lineItemIds);
  const programId = text(b.sourceProgramId);
  const candidates = bills.filter(
    (p) =>
      p.unlockedAt === null &&
      p.eventName === eventName &&
      (!eventLogIds || (p.eventLogId !== null && eventLogIds.includes(String(p.eventLogId)))) &&
      (!itemCodes || (p.itemCode !== null && itemCodes.includes(p.itemCode))) &&
      (!lineItemIds || (p.lineItemId !== null && lineItemIds.includes(String(p.lineItemId)))) &&
      (programId === null || String(p.programId) === programId),
  );
  if (candidates.length === 0) return out(v2Error(400, 82323282, 'No promise points found to unlock'));
  const now = core.now();
  const unlocked = candidates.map((p) => {
    p.unlockedAt = now;
    c.pointsMilli += p.pointsMilli;
    const e: Obj = { billNumber: p.billNumber };
    if (p.itemCode !== null) e.itemCode = p.itemCode;
    e.pointsUnlocked = milliToNumber(p.pointsMilli);
    e.programId = p.programId;
    return e;
  });
  core.commit();
  return out(reply(200, { pointsUnlocked: unlocked, errors: [], warnings: [] }));
}
