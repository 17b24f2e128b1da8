/**
 * POST /v2/points/unlockPromisedPoints: promised points on a customer's bill join the redeemable
 * balance, each promised entry once. A promotion's entry answers with the promotion's fields.
 */
import { isObj, type Obj, type Params, type Reply, reply, type SandboxCore, text, v2Error } from '../core.js';
import { RawNumber } from '../exact-json.js';
import { groupByIdentifier } from '../groups.js';
import { resolveV2 } from '../identity.js';
import { milliToNumber } from '../points.js';
import { EVENT_NAMES } from '../seed.js';
import type { CustomerRec, GroupRec, PromisedRec, Store } from '../state.js';

const EVENT_NAME_SET: ReadonlySet<string> = new Set(EVENT_NAMES);
const INT64_MAX = 9223372036854775807n;

/** The page's identifierName values (compared case-insensitively). */
const UNLOCK_NAMES: ReadonlyMap<string, string> = new Map(
  ['mobile', 'id', 'externalId', 'cuid', 'primaryUserId'].map((n) => [n.toLowerCase(), n]),
);

/** An integer as the page types it (Integer, Long): a JSON integer token or a digit string, in int64. */
function isInteger(v: unknown): boolean {
  const t =
    typeof v === 'number' ? (Number.isInteger(v) ? String(v) : '') : v instanceof RawNumber ? v.raw : v;
  if (typeof t !== 'string' || !/^\s*-?\d{1,19}\s*$/.test(t)) return false;
  const n = BigInt(t.trim());
  return n <= INT64_MAX && n >= -INT64_MAX - 1n;
}

/** A date as the table (YYYY-MM-DD) or the explorer (ISO 8601 date-time) writes it, a real day. */
function isDate(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  const m =
    /^(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/.exec(
      v.trim(),
    );
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const day = new Date(Date.UTC(y, mo - 1, d));
  return day.getUTCFullYear() === y && day.getUTCMonth() === mo - 1 && day.getUTCDate() === d;
}

const isScalarText = (v: unknown) => typeof v === 'string' || typeof v === 'number' || v instanceof RawNumber;

/**
 * The body's typed fields, read before the request's rules run (as a typed reader refuses what it
 * cannot bind): the first field of the wrong type, or null.
 */
function typeProblem(b: Obj): string | null {
  const given = (k: string) => b[k] !== undefined && b[k] !== null;
  const checks: Array<[string, (v: unknown) => boolean, string]> = [
    ['eventName', (v) => typeof v === 'string', 'a string'],
    ['billNumber', isScalarText, 'a string'],
    [
      'eventLogId',
      (v) => (Array.isArray(v) ? v.every(isInteger) : isInteger(v)),
      'an integer or an array of integers',
    ],
    ['lineItemIds', (v) => Array.isArray(v) && v.every(isInteger), 'an array of integers'],
    ['itemCodes', (v) => Array.isArray(v) && v.every(isScalarText), 'an array of strings'],
    ['billDate', isDate, 'a date, YYYY-MM-DD or ISO 8601'],
    ['sourceStoreId', isInteger, 'an integer'],
    ['sourceTillId', isInteger, 'an integer'],
    ['sourceTilId', isInteger, 'an integer'],
    ['sourceProgramId', isInteger, 'an integer'],
  ];
  for (const [k, ok, what] of checks) if (given(k) && !ok(b[k])) return `${k} must be ${what}`;
  return null;
}

/**
 * A filter given as one value or an array: its texts (integers as their plain digits, so `0011`
 * is 11), or null when absent or empty.
 */
function list(v: unknown, integers = false): string[] | null {
  if (v === undefined || v === null) return null;
  const arr = Array.isArray(v) ? v : [v];
  const out = arr
    .map((x) => text(x))
    .filter((x): x is string => x !== null)
    .map((x) => (integers ? BigInt(x).toString() : x));
  return out.length ? out : null;
}

/**
 * Whose promised points the query names. CUSTOMER: `mobile`, `id`, `externalId`, `cuid`, or
 * `primaryUserId` (a customer id, as `id`). USERGROUP2: the group by `id`, `externalId`, or
 * `primaryUserId` (its primary member's customer id).
 */
function groupNamed(store: Store, name: string, value: string): GroupRec | null {
  if (name !== 'primaryUserId') return groupByIdentifier(store, name, value);
  const primary = store.findCustomer('id', value);
  const g = primary ? store.groupOf(primary.id) : null;
  return g && g.primaryMemberId === primary?.id ? g : null;
}
function customerNamed(store: Store, name: string, value: string): CustomerRec | null {
  return resolveV2(store, name === 'primaryUserId' ? 'id' : name, value);
}

/** One element of the answer: a bill's entry, or (as on the page) a promotion's. */
function unlockedEntry(p: PromisedRec): Obj {
  if (p.promotionId !== null || p.promotionIdentifier !== null) {
    const e: Obj = { pointsUnlocked: milliToNumber(p.pointsMilli), programId: p.programId };
    if (p.promotionIdentifier !== null) e.promotionIdentifier = p.promotionIdentifier;
    if (p.promotionId !== null) e.promotionId = p.promotionId;
    if (p.promotionName !== null) e.promotionName = p.promotionName;
    return e;
  }
  const e: Obj = { billNumber: p.billNumber };
  if (p.itemCode !== null) e.itemCode = p.itemCode;
  e.pointsUnlocked = milliToNumber(p.pointsMilli);
  e.programId = p.programId;
  return e;
}

export function unlockPromisedPoints(core: SandboxCore, q: Params, body: unknown): Reply {
  const b: Obj = isObj(body) ? body : {};
  const typeError = typeProblem(b);
  if (typeError) return v2Error(400, 400, `Invalid request: ${typeError}`);
  const rawName = text(q.get('identifierName'));
  const idValue = text(q.get('identifierValue'));
  const source = text(q.get('source'));
  if (rawName === null || idValue === null || source === null) {
    return v2Error(400, 82323284, 'identifierName, identifierValue, or source cannot be empty');
  }
  const idName = UNLOCK_NAMES.get(rawName.toLowerCase());
  const type = (text(q.get('type')) ?? 'CUSTOMER').toUpperCase();
  const group =
    type === 'USERGROUP2' && idName !== undefined ? groupNamed(core.store, idName, idValue) : null;
  if (type === 'USERGROUP2' && !group) return v2Error(400, 1645, 'Group details passed are not valid');
  if (type !== 'CUSTOMER' && type !== 'USERGROUP2') return v2Error(400, 82323276, 'Entity type invalid');
  const billNumber = text(b.billNumber);
  if (billNumber === null) return v2Error(400, 82323271, 'Bill number missing');
  const eventName = text(b.eventName);
  if (eventName === null || !EVENT_NAME_SET.has(eventName))
    return v2Error(400, 82323272, 'Event name not found');
  // Whose promised points: the group's (its pool gains them; its primary member's fault applies),
  // or the customer's.
  let holder: { promised: PromisedRec[]; pointsMilli: number };
  let faultOf: CustomerRec | undefined;
  if (group) {
    holder = group;
    faultOf = core.store.customers.get(group.primaryMemberId);
  } else {
    if (idName === undefined) {
      return v2Error(400, 8015, `Invalid identifier: unsupported identifierName ${rawName}`);
    }
    const c = customerNamed(core.store, idName, idValue);
    if (!c) return v2Error(400, 8015, 'Invalid identifier: customer not found');
    holder = c;
    faultOf = c;
  }
  const gate = faultOf ? core.fault(faultOf, 'v2') : null;
  if (gate && 'stop' in gate) return gate.stop;
  const out = (r: Reply) => (gate ? gate.out(r) : r);

  const bills = holder.promised.filter((p) => p.billNumber === billNumber);
  if (bills.length === 0) return out(v2Error(400, 82323277, 'No bill found for given bill number'));
  const eventLogIds = list(b.eventLogId, true);
  if (
    eventLogIds &&
    !bills.some((p) => p.eventLogId !== null && eventLogIds.includes(String(p.eventLogId)))
  ) {
    return out(v2Error(400, 3918, 'Error unlocking points: no eventLog found for given eventLogId'));
  }
  const itemCodes = list(b.itemCodes);
  const lineItemIds = list(b.lineItemIds, true);
  const programId = list(b.sourceProgramId, true)?.[0] ?? null;
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
    holder.pointsMilli += p.pointsMilli;
    return unlockedEntry(p);
  });
  core.commit();
  return out(reply(200, { pointsUnlocked: unlocked, errors: [], warnings: [] }));
}
