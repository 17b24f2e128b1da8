import { z } from 'zod';
import { defineTool } from '../src/toolkit/define.js';
import { idText, num, SOURCES, str } from '../src/toolkit/fields.js';

/** GET /v2/customers/lookup/points/balance. Effect "read": nothing changes. */
export default defineTool({
  name: 'get_points_balance',
  title: 'Get points balance',
  description:
    "A customer's redeemable and promised points. Look before and after any redemption to verify it.",
  input: z
    .object({
      identifier_name: z
        .enum(['mobile', 'email', 'externalId', 'id', 'cardnumber'])
        .describe('Identifier type'),
      identifier_value: idText().describe('Identifier value'),
      source: z.enum(SOURCES).optional().describe('Identifier source; default INSTORE'),
    })
    .strict(),
  output: z.object({
    customer_id: z.string().optional().describe('Customer id'),
    balance: z.number().optional().describe('Redeemable points'),
    promised_points: z.number().optional().describe('Promised, not yet redeemable'),
    promised: z
      .array(
        z.object({
          bill_number: z.string().optional().describe('Bill'),
          points: z.number().optional().describe('Points'),
          event_name: z.string().optional().describe('Event'),
          event_log_id: z.string().optional().describe('Event log id'),
        }),
      )
      .optional()
      .describe('Promised points by bill, for unlock_promised_points'),
  }),
  effect: 'read',
  envelope: 'v2',
  request: (a) => ({
    method: 'GET',
    host: 'api',
    path: '/v2/customers/lookup/points/balance',
    query: {
      source: a.source ?? 'INSTORE',
      identifierName: a.identifier_name,
      identifierValue: a.identifier_value,
    },
  }),
  parse: (body) => {
    const d = body?.data ?? body ?? {};
    return {
      customer_id: str(d.customerId ?? d.id),
      balance: num(d.loyaltyPoints ?? d.currentPoints ?? d.points),
      promised_points: num(d.promisedPoints),
      promised: Array.isArray(d.promised)
        ? d.promised.map((p: any) => ({
            bill_number: str(p?.billNumber),
            points: num(p?.points),
            event_name: str(p?.eventName),
            event_log_id: str(p?.eventLogId),
          }))
        : undefined,
    };
  },
});
