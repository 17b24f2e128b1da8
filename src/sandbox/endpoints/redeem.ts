/**
 * POST /v1.1/points/redeem: idempotency by external_reference_number, the documented item codes
 * in the README's order, faults, and the write. Workflow approval runs the same function.
 */
import {
  isObj,
  isTrue,
  type Obj,
  type Params,
  type Reply,
  type SandboxCore,
  text,
  type Version,
  v1Error,
} from '../core.js';
import { GROUP_INVALID, groupFromQuery, groupProblem } from '../groups.js';
import { resolveV1 } from '../identity.js';
import { formatMilli, milliToNumber, parseMilli, scalarText } from '../points.js';
import { type CustomerRec, type RedemptionRec, randomId } from '../state.js';
import { consumeOtp, otpValid, pointsProblem, V1_ALL_FAILED } from './v1.js';

/** Sandbox-chosen item code for reusing the external_reference_number of a failed redemption. */
export const CODE_FAILED_KEY_REUSED = 830;

/** POST /v1.1/points/redeem. `faultVersion`: the envelope of a transient fault ('v2' under workflow). */
export function redeem(core: SandboxCore, q: Params, body: unknown, faultVersion: Version = 'v1'): Reply {
  const root = isObj(body) && isObj(body.root) ? body.root : null;
  const r = root?.redeem;
  if (r === undefined || r === null) return v1Error(400, 400, 'Invalid request: root.redeem is required');
  const items = Array.isArray(r) ? r : [r];
  if (items.length !== 1) {
    return v1Error(400, 400, 'Batch not supported: root.redeem must hold exactly one redemption');
  }
  if (!isObj(items[0])) return v1Error(400, 400, 'Invalid request: a redeem item must be an object');
  return redeemItem(core, items[0], q, faultVersion);
}

function redeemItem(core: SandboxCore, it: Obj, q: Params, faultVersion: Version): Reply {
  const { store } = core;
  const now = core.now();
  const cust = isObj(it.customer) ? it.customer : {};
  const pointsText = scalarText(it.points_redeemed) ?? '';
  const ern = text(it.external_reference_number);
  const echo = {
    mobile: text(cust.mobile) ?? '',
    email: text(cust.email) ?? '',
    external_id: text(cust.external_id) ?? '',
  };
  const failBody = (code: number, message: string) =>
    JSON.stringify({
      response: {
        status: V1_ALL_FAILED,
        responses: {
          points: {
            ...echo,
            points_redeemed: pointsText,
            item_status: { success: 'false', code, message },
          },
        },
      },
    });
  const fail = (code: number, message: string): Reply => {
    if (ern !== null) {
      store.idempotency.set(ern, { outcome: 'failed', code, message, at: now });
      core.commit();
    }
    return { status: 400, body: failBody(code, message) };
  };

  // idempotency first: a known key never writes again
  if (ern !== null) {
    const prev = store.idempotency.get(ern);
    if (prev?.outcome === 'success') {
      const red = store.redemptions.get(prev.redemptionId);
      const owner = red ? store.customers.get(red.customerId) : undefined;
      const replay: Reply = { status: 200, body: red?.originalResponse ?? '{}' };
      if (!owner) return replay;
      const gate = core.fault(owner, faultVersion);
      return 'stop' in gate ? gate.stop : gate.out(replay);
    }
    if (prev?.outcome === 'failed') {
      return {
        status: 400,
        body: failBody(
          CODE_FAILED_KEY_REUSED,
          `external_reference_number already used by a failed redemption (item code ${prev.code}); ` +
            'a failed key cannot be retried, use a new external_reference_number',
        ),
      };
    }
  }

  const ask = groupFromQuery(store, q);
  if (ask.kind === 'invalid') return fail(...GROUP_INVALID);
  const c = resolveV1(store, cust);
  if (!c) return fail(816, 'Customer not found for organization');
  const groupRule = groupProblem(store, ask, c);
  if (groupRule) return fail(...groupRule);
  // a group redemption is paid from the group's pool, anything else from the customer's balance
  const group = ask.kind === 'group' ? ask.group : null;
  const account = group ?? c;
  const gate = core.fault(c, faultVersion);
  if ('stop' in gate) return gate.stop;
  const { out } = gate;

  const p = parseMilli(it.points_redeemed);
  const bad = pointsProblem(p, pointsText);
  // pointsProblem answers whenever the parse failed, so `bad` is set in both branches.
  if (bad || !p.ok) return out(fail(...bad!));
  const skip = isTrue(q.get('skip_validation'));
  const code = text(it.validation_code) ?? '';
  if (!skip) {
    if (code !== '') {
      if (!otpValid(core, c, p.milli, code)) return out(fail(808, 'Invalid validation code'));
    } else if (c.requiresValidation) {
      return out(fail(824, 'Mobile validation is mandatory for points redemption: pass validation_code'));
    }
  }
  if (p.milli > account.pointsMilli) return out(fail(803, 'Insufficient points for redemption'));

  // write
  account.pointsMilli -= p.milli;
  account.redeemedMilli += p.milli;
  if (!skip && code !== '') consumeOtp(core, c, p.milli);
  let redemptionId = randomId(6);
  while (store.redemptions.has(redemptionId)) redemptionId = randomId(6);
  const transactionNumber = text(it.transaction_number) ?? '';
  const programId = Number.parseInt(q.get('program_id') ?? '', 10);
  const rec: RedemptionRec = {
    redemptionId,
    id: ++store.seq.redemption,
    customerId: c.id,
    groupId: group?.id ?? null,
    pointsMilli: p.milli,
    balanceAfterMilli: account.pointsMilli,
    programId: Number.isSafeInteger(programId) && programId > 0 ? programId : 1,
    transactionNumber,
    billNumber: transactionNumber,
    billId: null,
    notes: text(it.notes) ?? '',
    purpose: '',
    validationCode: code,
    externalReferenceNumber: ern,
    redemptionTime: text(it.redemption_time),
    customFields: it.custom_fields ?? null,
    createdAt: now,
    updatedAt: null,
    reversedMilli: 0,
    reversals: [],
    originalResponse: null,
  };
  const body = successBody(c, rec, ++store.seq.effect);
  if (ern !== null) {
    rec.originalResponse = body;
    store.idempotency.set(ern, { outcome: 'success', redemptionId, at: now });
  }
  store.redemptions.set(redemptionId, rec);
  core.commit();
  return out({ status: 200, body });
}

/** The documented success body (the redeem page's example shape). */
function successBody(c: CustomerRec, rec: RedemptionRec, effectId: number): string {
  const num = milliToNumber(rec.pointsMilli);
  return JSON.stringify({
    response: {
      status: { success: 'true', code: 200, message: 'Success' },
      responses: {
        points: {
          mobile: c.mobile,
          email: c.email ?? '',
          external_id: c.externalId ?? '',
          user_id: String(c.id),
          redemption_id: rec.redemptionId,
          points_redeemed: formatMilli(rec.pointsMilli),
          redemption_purpose: '',
          redeemed_value: num,
          redeemed_local_value: num,
          balance: milliToNumber(rec.balanceAfterMilli),
          side_effects: {
            effect: [
              {
                id: effectId,
                case_value: 'false',
                num_points: num,
                currency_value: num,
                validation_code: rec.validationCode,
                points_redemption_summary_id: String(effectId),
                redeemed_on_bill_number: rec.transactionNumber,
                redeemed_on_bill_id: -1,
                type: 'points',
              },
            ],
          },
          item_status: { success: 'true', code: 800, message: 'Points Redeemed' },
        },
      },
    },
  });
}
