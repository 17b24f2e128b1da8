/**
 * GET /v1.1/points/validationcode: issue the customer's validation code for an amount. Real
 * Capillary sends it by SMS; only the sandbox also returns it in the body.
 */
import { isoZ, type Params, type Reply, reply, type SandboxCore } from '../core.js';
import { resolveV1 } from '../identity.js';
import { milliToNumber } from '../points.js';
import type { CustomerRec } from '../state.js';
import { issueOtp, pointsProblem, V1_ALL_FAILED, v1CustomerPoints } from './v1.js';

export function validationCode(core: SandboxCore, q: Params): Reply {
  const { ident, pointsText, p, pointsEcho } = v1CustomerPoints(q);
  const fail = (c: CustomerRec | null, code: number, message: string): Reply =>
    reply(400, {
      response: {
        status: V1_ALL_FAILED,
        validation_code: {
          code: {
            user_id: c ? String(c.id) : '',
            mobile: c ? c.mobile : (ident.mobile ?? ''),
            email: c ? (c.email ?? '') : (ident.email ?? ''),
            external_id: c ? (c.externalId ?? '') : (ident.external_id ?? ''),
            points: pointsEcho,
            item_status: { success: 'false', code, message },
          },
        },
      },
    });
  const c = resolveV1(core.store, ident);
  if (!c) return fail(null, 816, 'Customer not found for organization');
  const bad = pointsProblem(p, pointsText);
  if (bad || !p.ok) return fail(c, ...bad!);
  const otp = issueOtp(core, c, p.milli);
  return reply(200, {
    response: {
      status: { success: 'true', code: 200, message: 'Operation Successful' },
      validation_code: {
        code: {
          user_id: String(c.id),
          mobile: c.mobile,
          email: c.email ?? '',
          external_id: c.externalId ?? '',
          points: milliToNumber(p.milli),
          item_status: { success: 'true', code: 200, message: 'Validation Code Issued by SMS' },
          sandbox_validation_code: otp.code,
          sandbox_validation_code_expires_at: isoZ(otp.expiresAt),
        },
      },
    },
  });
}
