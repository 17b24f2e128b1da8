import { z } from 'zod';
import { defineTool } from '../src/toolkit/define.js';
import {
  customerLabel,
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
    points_redeemed: z.string().optional().describe('Points deducted'),
    balance: z.number().optional().describe('Balance after'),
    redeemed_value: z.number().optional().describe('Currency value'),
    user_id: z.string().optional().describe('Customer id'),
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
    return {
      redemption_id: str(p.redemption_id),
      points_redeemed: str(p.points_redeemed),
      balance: num(p.balance),
      redeemed_value: num(p.redeemed_value),
      user_id: str(p.user_id),
      item_status: p.item_status ? normItemStatus(p.item_status) : undefined,
    };
  },
});
