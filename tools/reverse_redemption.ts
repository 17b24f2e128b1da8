import { z } from 'zod';
import { defineTool } from '../src/toolkit/define.js';
import {
  customerIdentifier,
  customerLabel,
  customerSchema,
  dryRunSchema,
  num,
  pointsSchema,
  pointsString,
  redemptionIdSchema,
  str,
} from '../src/toolkit/fields.js';

/**
 * POST /v2/points/reverse. Effect "spend": it moves points back to the customer, cannot be undone
 * by itself (destructive), and a second partial reversal moves more (not idempotent). The API
 * takes no idempotency key, so a repeat after an unknown outcome is refused until checked.
 */
export default defineTool({
  name: 'reverse_redemption',
  title: 'Reverse a redemption',
  description:
    'Undo a redemption: return its points (all, or points) to the customer. Only for a mistaken redemption; an identical repeat is replayed, not reversed twice.',
  input: z
    .object({
      redemption_id: redemptionIdSchema.describe('Redemption id from redeem_points'),
      customer: customerSchema,
      points: pointsSchema.optional().describe('Points to return; omit for all remaining'),
      dry_run: dryRunSchema,
    })
    .strict(),
  output: z.object({
    redemption_id: z.string().optional().describe('Redemption'),
    reversal_id: z.string().optional().describe('Reversal id'),
    points_reversed: z.number().optional().describe('Points returned'),
    balance: z.number().optional().describe('Balance after'),
  }),
  effect: 'spend',
  envelope: 'v2',
  codes: { 'points:too_small': 901, 'points:invalid_type': 901 },
  spend: {
    whose: (a) => ({ customer: a.customer }),
    meaning: (a) => ({ redemption_id: a.redemption_id, points: a.points }),
    // A reversal spends nothing against the caps: it returns points.
    points: () => 0,
    // Points moved back count against the confirmation budget; "all" always asks.
    moved: (a) => a.points ?? 'all',
    family: 'reverse',
    describe: (a) =>
      `Reverse ${a.points === undefined ? 'all remaining points of' : `${pointsString(a.points)} points of`} redemption ${a.redemption_id}, returning them to customer ${customerLabel(a.customer)}.`,
    key: () => undefined,
    keyPrefix: 'mcp-rev',
    keySentUpstream: false,
  },
  request: (a) => ({
    method: 'POST',
    host: 'api',
    path: '/v2/points/reverse',
    body: {
      redemptionId: a.redemption_id,
      ...(a.points === undefined ? {} : { pointsToBeReversed: pointsString(a.points) }),
      identifier: customerIdentifier(a.customer),
    },
  }),
  parse: (body) => {
    const d = body?.data && typeof body.data === 'object' ? body.data : body;
    return {
      redemption_id: str(d?.redemptionId),
      reversal_id: str(d?.reversalId),
      points_reversed: num(d?.pointsReversed ?? d?.pointsToBeReversed),
      balance: num(d?.balance),
    };
  },
});
