/**
 * PUT /v2/points/updateRedemption: edit a redemption's bill number, bill id, purpose and custom
 * fields, found by its id or by the redeem's external_reference_number.
 */
import { isObj, isoZ, type Reply, type SandboxCore, TILL_ID, text, v2Error } from '../core.js';
import { SANDBOX_CREDENTIALS } from '../credentials.js';
import { RawNumber, stringifyExact } from '../exact-json.js';
import { groupByIdentifier } from '../groups.js';
import { identifierKind, resolveV2 } from '../identity.js';
import { milliToNumber, scalarText } from '../points.js';
import type { RedemptionRec } from '../state.js';

const INT64_MAX = 9223372036854775807n;

export function updateRedemption(core: SandboxCore, body: unknown): Reply {
  const { store } = core;
  if (!isObj(body))
    return v2Error(400, 749, 'Exactly one redemption identifier needed to identify redemption');
  const rid = text(body.redemptionId);
  const ern = text(body.externalReferenceNumber);
  if ((rid === null) === (ern === null)) {
    return v2Error(400, 749, 'Exactly one redemption identifier needed to identify redemption');
  }
  const has = (k: string) => body[k] !== undefined && body[k] !== null;
  if (!has('billNumber') && !has('billId') && !has('purpose') && !has('customFields')) {
    return v2Error(400, 748, 'No metadata update requested');
  }
  const owns = entityOwner(store, body.entity);
  if ('error' in owns) return owns.error;

  let billId: string | null | undefined;
  if (has('billId')) {
    const raw = body.billId;
    const t =
      raw instanceof RawNumber || typeof raw === 'number' || typeof raw === 'string'
        ? scalarText(raw)
        : undefined;
    if (t === undefined || !/^\d{1,19}$/.test(t) || BigInt(t) <= 0n || BigInt(t) > INT64_MAX) {
      return v2Error(
        400,
        750,
        'Redemption update failed : billId must be a positive integer of at most 19 digits',
      );
    }
    billId = BigInt(t).toString();
  }
  let billNumber: string | undefined;
  if (has('billNumber')) {
    const t = text(body.billNumber);
    if (t === null || t.length > 255) {
      return v2Error(400, 750, 'Redemption update failed : billNumber must be a non-empty string');
    }
    billNumber = t;
  }
  let purpose: string | undefined;
  if (has('purpose')) {
    if (typeof body.purpose !== 'string')
      return v2Error(400, 750, 'Redemption update failed : purpose must be a string');
    if (body.purpose.length > 255) {
      return v2Error(400, 750, 'Redemption update failed : purpose must be at most 255 characters');
    }
    purpose = body.purpose;
  }
  let red: RedemptionRec | undefined;
  if (rid !== null) red = store.redemptions.get(rid);
  else {
    const k = store.idempotency.get(ern as string);
    red = k?.outcome === 'success' ? store.redemptions.get(k.redemptionId) : undefined;
  }
  if (!red) return v2Error(400, 750, 'Redemption update failed : redemption not found');
  if (!owns.owns(red)) {
    return v2Error(400, 750, 'Redemption update failed : redemption does not belong to the given entity');
  }
  const redeemer = store.customers.get(red.customerId);
  const gate = redeemer ? core.fault(redeemer, 'v2') : null;
  if (gate && 'stop' in gate) return gate.stop;
  if (billId !== undefined) red.billId = billId;
  if (billNumber !== undefined) red.billNumber = billNumber;
  if (purpose !== undefined) red.purpose = purpose;
  if (has('customFields')) red.customFields = body.customFields;
  red.updatedAt = core.now();
  core.commit();
  const ok: Reply = { status: 200, body: updatedBody(red) };
  return gate ? gate.out(ok) : ok;
}

/**
 * Who the redemption must belong to. `entity` is optional (the page does not mark it mandatory):
 * without it, the redemption identifier alone decides. Given, it names a CUSTOMER by any customer
 * identifier or a USERGROUP2 by the group's `id` or `externalId`.
 */
function entityOwner(
  store: SandboxCore['store'],
  entity: unknown,
): { owns: (red: RedemptionRec) => boolean } | { error: Reply } {
  if (entity === undefined || entity === null) return { owns: () => true };
  const invalid = (detail = '') => ({ error: v2Error(400, 1219, `Entity details not set/invalid${detail}`) });
  if (!isObj(entity)) return invalid();
  const etype = text(entity.type);
  if (etype === null) return invalid();
  const entityType = etype.toUpperCase();
  if (!['CUSTOMER', 'USERGROUP2', 'FLEET'].includes(entityType)) {
    return { error: v2Error(400, 1212, 'Entity type passed is not valid') };
  }
  const idType = text(entity.identifierType);
  const idValue = text(entity.identifierValue);
  if (idType === null || idValue === null) return invalid();
  if (entityType === 'FLEET') return invalid(': there are no fleets in the sandbox');
  if (entityType === 'USERGROUP2') {
    const g = groupByIdentifier(store, idType, idValue);
    if (!g) return invalid(': no such group');
    return { owns: (red) => red.groupId === g.id };
  }
  if (identifierKind(idType) === null) {
    return { error: v2Error(400, 8015, `Invalid identifier: unsupported identifierType ${idType}`) };
  }
  const c = resolveV2(store, idType, idValue);
  if (!c) return { error: v2Error(400, 8015, 'Invalid identifier: customer not found') };
  return { owns: (red) => red.customerId === c.id };
}

/** The page's response shape; billId as a bare number token with its exact digits. */
function updatedBody(red: RedemptionRec): string {
  const t = red.redemptionTime;
  const parsedTime = t
    ? Date.parse(t.replace(' ', 'T') + (/[zZ]|[+-]\d\d:?\d\d$/.test(t) ? '' : 'Z'))
    : Number.NaN;
  return stringifyExact({
    id: red.id,
    programId: red.programId,
    pointsRedeemed: milliToNumber(red.pointsMilli),
    billId: red.billId === null ? -1 : new RawNumber(red.billId),
    billNumber: red.billNumber,
    validationCode: red.validationCode,
    notes: red.notes,
    redemptionTime: Number.isFinite(parsedTime) ? parsedTime : red.createdAt,
    pointsRedemptionTime: red.createdAt,
    tillId: TILL_ID,
    tillName: SANDBOX_CREDENTIALS.username,
    pointDeductionList: [],
    externalReferenceNumber: red.externalReferenceNumber ?? '',
    redemptionId: red.redemptionId,
    customerId: red.customerId,
    redemptionPurpose: red.purpose,
    redemptionDate: isoZ(red.createdAt),
    warnings: [],
  });
}
