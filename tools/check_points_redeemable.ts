import { z } from 'zod';
import { defineTool } from '../src/toolkit/define.js';
import {
  customerQuery,
  customerSchema,
  digits,
  groupQuery,
  groupSchema,
  num,
  POINTS_CODES,
  pointsSchema,
  pointsString,
  validationCodeSchema,
} from '../src/toolkit/fields.js';

/**
 * GET /v1.1/points/isredeemable. Effect "read": it only checks; issue_otp is always false here,
 * so no message reaches the customer (issue_redemption_code does that).
 */
export default defineTool({
  name: 'check_points_redeemable',
  title: 'Check points are redeemable',
  description:
    'Check whether a customer can redeem some points now, and why not. Sends the customer nothing.',
  input: z
    .object({
      customer: customerSchema,
      points: pointsSchema,
      program_id: digits().optional().describe('Loyalty program id'),
      validation_code: validationCodeSchema.optional().describe("Customer's code to check"),
      skip_validation: z.boolean().optional().describe('Skip customer validation'),
      validation_type: z.enum(['MISSED_CALL', 'SMS']).optional().describe('Validation type'),
      group: groupSchema.optional(),
    })
    .strict(),
  output: z.object({
    redeemable: z.boolean().describe('Can be redeemed now'),
    code: z.number().optional().describe('Reason code (800 = ok)'),
    message: z.string().optional().describe('Reason'),
    points_value: z.number().optional().describe('Currency value of the points'),
  }),
  effect: 'read',
  envelope: 'v1.1',
  codes: POINTS_CODES,
  request: (a) => ({
    method: 'GET',
    host: 'api',
    path: '/v1.1/points/isredeemable',
    query: {
      format: 'json',
      ...customerQuery(a.customer),
      points: pointsString(a.points),
      program_id: a.program_id,
      issue_otp: 'false',
      validation_code: a.validation_code,
      skip_validation: a.skip_validation === undefined ? undefined : String(a.skip_validation),
      validation_type: a.validation_type,
      ...(a.group ? { group_redemption: 'true', ...groupQuery(a.group) } : {}),
    },
  }),
  parse: (body) => read(body) ?? { redeemable: false },
  // "Not redeemable" arrives as a failed envelope; it is the answer, not an error.
  readFailure: (body) => read(body),
});

function read(body: any) {
  const r = body?.response?.points?.redeemable ?? body?.response?.responses?.points?.redeemable;
  if (!r?.item_status) return undefined;
  return {
    redeemable: String(r.is_redeemable) === 'true',
    code: num(r.item_status.code),
    message: r.item_status.message === undefined ? undefined : String(r.item_status.message),
    points_value: num(r.points_redeem_value),
  };
}
