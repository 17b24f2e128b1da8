/**
 * GET /v1.1/points/isredeemable: can this customer redeem these points now? Optionally issues
 * a validation code (issue_otp=true). Writes nothing else.
 */
import { isoZ, isTrue, type Obj, type Params, type Reply, reply, type SandboxCore, text } from '../core.js';
import { GROUP_INVALID, groupFromQuery, groupProblem } from '../groups.js';
import { resolveV1 } from '../identity.js';
import { milliToNumber } from '../points.js';
import type { CustomerRec } from '../state.js';
import { issueOtp, otpValid, pointsProblem, V1_ALL_FAILED, v1CustomerPoints } from './v1.js';

export function isRedeemable(core: SandboxCore, q: Params): Reply {
  const { ident, pointsText, p, pointsEcho } = v1CustomerPoints(q);
  const base = (c: CustomerRec | null) => ({
    mobile: c ? c.mobile : (ident.mobile ?? ''),
    email: c ? (c.email ?? '') : (ident.email ?? ''),
    external_id: c ? (c.externalId ?? '') : (ident.external_id ?? ''),
    points: pointsEcho,
  });
  const fail = (c: CustomerRec | null, code: number, message: string): Reply =>
    reply(400, {
      response: {
        status: V1_ALL_FAILED,
        points: {
          redeemable: {
            ...base(c),
            is_redeemable: 'false',
            points_redeem_value: 0,
            points_redeem_local_value: 0,
            input_type: 'points',
            points_currency_ratio: '1',
            item_status: { success: 'false', code, message },
          },
        },
      },
    });
  const ask = groupFromQuery(core.store, q);
  if (ask.kind === 'invalid') return fail(null, ...GROUP_INVALID);
  const c = resolveV1(core.store, ident);
  if (!c) return fail(null, 816, 'Customer not found for organization');
  const groupRule = groupProblem(core.store, ask, c);
  if (groupRule) return fail(c, ...groupRule);
  const bad = pointsProblem(p, pointsText);
  if (bad || !p.ok) return fail(c, ...bad!);
  const account = ask.kind === 'group' ? ask.group : c;
  if (p.milli > account.pointsMilli)
    return fail(c, 818, 'Current points are less than points requested for redemption');
  const code = text(q.get('validation_code'));
  if (code !== null && !isTrue(q.get('skip_validation')) && !otpValid(core, c, p.milli, code)) {
    return fail(c, 808, 'Invalid validation code');
  }
  const num = milliToNumber(p.milli);
  const redeemable: Obj = {
    ...base(c),
    is_redeemable: 'true',
    points_redeem_value: num,
    points_redeem_local_value: num,
    input_type: 'points',
    points_currency_ratio: '1',
    item_status: { success: 'true', code: 800, message: 'Points can be redeemed' },
  };
  if (isTrue(q.get('issue_otp'))) {
    const otp = issueOtp(core, c, p.milli);
    redeemable.item_status = {
      success: 'true',
      code: 800,
      message: 'Points can be redeemed. Validation code issued by SMS',
    };
    redeemable.sandbox_validation_code = otp.code;
    redeemable.sandbox_validation_code_expires_at = isoZ(otp.expiresAt);
  }
  return reply(200, {
    response: { status: { success: 'true', code: 200, message: 'Success' }, points: { redeemable } },
  });
}
