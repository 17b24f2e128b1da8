import { z } from 'zod';
import { defineTool } from '../src/toolkit/define.js';
import {
  customerLabel,
  idOf,
  itemStatusSchema,
  normItemStatus,
  num,
  POINTS_CODES,
  pointsString,
  type RedemptionArgs,
  redeemItem,
  redeemQuery,
  redemptionFields,
  str,
} from '../src/toolkit/fields.js';

/**
 * POST /v1.1/points/redeem. Effect "spend": it deducts points, and the same arguments with a
 * new external_reference_number deduct again, so it is destructive and not idempotent; the
 * server's ledger makes a plain repeat safe (replayed, nothing sent).
 */
export default defineTool({
  name: 'redeem_points',
  title: 'Redeem points',
  description:
    "Deduct points from a customer's balance now. Check redeemability first. An identical repeat is replayed, not spent again; to redeem again on purpose pass a new external_reference_number.",
  input: z.object(redemptionFields).strict(),
  output: z.object({
    redemption_id: z.string().optional().describe('For update/reverse'),
    points_redeemed: z.number().optional().describe('Points deducted'),
    balance: z.number().optional().describe('Balance after'),
    redeemed_value: z.number().optional().describe('Currency value'),
    redeemed_local_value: z.number().optional().describe('Value in the local currency'),
    user_id: z.string().optional().describe('Customer id'),
    customer: z
      .object({
        mobile: z.string().optional().describe('Mobile'),
        email: z.string().optional().describe('Email'),
        external_id: z.string().optional().describe('External id'),
      })
      .optional()
      .describe("The customer's identifiers as Capillary holds them"),
    purpose: z.string().optional().describe('Redemption purpose'),
    deductions: z
      .array(
        z.object({
          id: z.string().optional().describe('Effect id'),
          type: z.string().optional().describe('What was deducted, e.g. points'),
          points: z.number().optional().describe('Points'),
          currency_value: z.number().optional().describe('Currency value'),
          summary_id: z.string().optional().describe('Points redemption summary id'),
          bill_number: z.string().optional().describe('Bill it was redeemed on'),
          bill_id: z.string().optional().describe('Bill id, when there is one'),
        }),
      )
      .optional()
      .describe('What was deducted, on which bill (side_effects.effect)'),
    item_status: itemStatusSchema.optional(),
  }),
  effect: 'spend',
  envelope: 'v1.1',
  codes: POINTS_CODES,
  spend: {
    whose: (a) => ({ customer: a.customer, group: a.group }),
    meaning: (a) => ({ points: a.points, program_id: a.program_id, group: a.group }),
    points: (a) => a.points,
    family: 'redeem',
    describe: (a) => `Redeem ${pointsString(a.points)} points from customer ${customerLabel(a.customer)}.`,
    key: (a) => a.external_reference_number,
    keyPrefix: 'mcp-rdm',
    keySentUpstream: true,
  },
  request: (a, ctx) => ({
    method: 'POST',
    host: 'api',
    path: '/v1.1/points/redeem',
    query: redeemQuery(a as RedemptionArgs),
    body: { root: { redeem: [redeemItem(a as RedemptionArgs, ctx.idempotencyKey)] } },
  }),
  parse: (body, _a) => {
    const p = body?.response?.responses?.points ?? {};
    const customer = { mobile: idOf(p.mobile), email: idOf(p.email), external_id: idOf(p.external_id) };
    const effects: any[] = Array.isArray(p.side_effects?.effect) ? p.side_effects.effect : [];
    return {
      redemption_id: str(p.redemption_id),
      points_redeemed: num(p.points_redeemed),
      balance: num(p.balance),
      redeemed_value: num(p.redeemed_value),
      redeemed_local_value: num(p.redeemed_local_value),
      user_id: idOf(p.user_id),
      customer: Object.values(customer).some(Boolean) ? customer : undefined,
      purpose: idOf(p.redemption_purpose),
      deductions: effects.length
        ? effects.map((e) => ({
            id: idOf(e?.id),
            type: idOf(e?.type),
            points: num(e?.num_points),
            currency_value: num(e?.currency_value),
            summary_id: idOf(e?.points_redemption_summary_id),
            bill_number: idOf(e?.redeemed_on_bill_number),
            bill_id: idOf(e?.redeemed_on_bill_id),
          }))
        : undefined,
      item_status: p.item_status ? normItemStatus(p.item_status) : undefined,
    };
  },
});
