import type { GetPromptResult, Prompt } from '@modelcontextprotocol/server';

/** The tools a prompt's workflow calls: it is listed only when every one of them is. */
const NEEDS: Record<string, string[]> = {
  redeem_points_for_customer: ['get_points_balance', 'check_points_redeemable', 'redeem_points'],
};

/** The prompts whose tools are all listed: read-only mode (or a deny-list) hides the ones that write. */
export const promptsFor = (listed: (name: string) => boolean): Prompt[] =>
  PROMPTS.filter((p) => (NEEDS[p.name] ?? []).every(listed));

export const PROMPTS: Prompt[] = [
  {
    name: 'redeem_points_for_customer',
    title: 'Redeem points for a customer, safely',
    description: 'The safe redemption workflow: look, check, act, verify.',
    arguments: [
      { name: 'customer', description: 'Customer identifier, e.g. mobile 919000000001', required: true },
      { name: 'points', description: 'Points to redeem', required: true },
      { name: 'reason', description: 'Why (goes into notes)', required: false },
    ],
  },
];

/** The prompt's messages; its required arguments were checked by the server (src/mcp/server.ts). */
export function getPrompt(name: string, args: Record<string, string>): GetPromptResult | undefined {
  if (name !== 'redeem_points_for_customer') return undefined;
  const { customer, points } = args;
  const reason = args.reason ? ` Reason: ${args.reason}.` : '';
  const text = [
    `Redeem ${points} points for customer ${customer}.${reason} Follow these steps in order:`,
    '1. get_points_balance for the customer. Stop if the balance is below the points.',
    '2. check_points_redeemable with the same customer and points. If it says a validation code is required (824), call issue_redemption_code and ask the customer for the code they received.',
    '3. redeem_points with the customer, points, notes (the reason), and validation_code if any. Omit external_reference_number: the server mints one and keeps the call idempotent.',
    '4. get_points_balance again and confirm the balance went down by exactly the points.',
    'Reading results:',
    '- replayed: true means an identical call already succeeded; its result is returned and nothing was spent again. Do not call again to "make it work".',
    '- An error with outcome "unknown" (timeout, lost connection) means points may have moved. Repeat the identical call unchanged: the server re-sends it with the same reference, which Capillary deduplicates. Never change the points or pass a new external_reference_number to retry.',
    '- An error with source "safety" (caps, confirmation declined) is final: tell the human, do not work around it (no splitting the points, no other identifier of the same customer). error.limit says which limit, what is left and when it frees up.',
    '- To undo a mistaken redemption, use reverse_redemption with the redemption_id.',
  ].join('\n');
  return {
    description: `Safe redemption of ${points} points for ${customer}`,
    messages: [{ role: 'user', content: { type: 'text', text } }],
  };
}
