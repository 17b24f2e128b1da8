import { z } from 'zod';
import { defineTool } from '../src/toolkit/define.js';
import {
  customerQuery,
  customerSchema,
  POINTS_CODES,
  pointsSchema,
  pointsString,
  str,
} from '../src/toolkit/fields.js';

/**
 * GET /v1.1/points/validationcode. Effect "notify": it sends the customer a message, so it is not
 * read-only; re-issuing inside the validity window returns the same code, so it is idempotent;
 * nothing is lost, so it is not destructive.
 */
export default defineTool({
  name: 'issue_redemption_code',
  title: 'Send the customer a redemption code',
  description:
    'Send the customer a validation code (OTP) for redeeming these points; ask them for it, then pass it as validation_code. Repeats within the validity window resend the same code.',
  input: z
    .object({
      customer: customerSchema,
      points: pointsSchema,
    })
    .strict(),
  output: z.object({
    issued: z.boolean().describe('Code sent'),
    message: z.string().optional().describe('API message'),
    sandbox_validation_code: z
      .string()
      .optional()
      .describe('Sandbox only: the code, as the customer would get it'),
  }),
  effect: 'notify',
  envelope: 'v1.1',
  unknownHint:
    'A code may have been sent. Ask the customer before repeating; a repeat within the validity window resends the same code.',
  codes: POINTS_CODES,
  messages: (a) => a.customer,
  request: (a) => ({
    method: 'GET',
    host: 'api',
    path: '/v1.1/points/validationcode',
    query: { format: 'json', ...customerQuery(a.customer), points: pointsString(a.points) },
  }),
  parse: (body, _a, _res, ctx) => {
    const c = body?.response?.validation_code?.code ?? {};
    return {
      issued: String(c.item_status?.success ?? body?.response?.status?.success) === 'true',
      message: str(c.item_status?.message),
      // A real API sends the code by SMS only; the sandbox shows it so a demo can go on.
      sandbox_validation_code:
        ctx.config.environment === 'sandbox' ? str(c.sandbox_validation_code) : undefined,
    };
  },
});
