// The operation a money call stands for, derived once right after its arguments are checked and
// passed along: every later stop (caps, confirmation, ledger, audit) reads it, none calls back
// into the tool's spend spec.
import { fingerprint } from '../safety/fingerprint.js';
import type { AnySpendTool } from '../toolkit/define.js';
import { type Customer, pointsString } from '../toolkit/fields.js';
import type { Identity } from './identity.js';

export interface Operation {
  tool: AnySpendTool;
  /** The checked arguments as the agent gave them. */
  args: Record<string, any>;
  /** The arguments the request is built from (a pinned program filled in). */
  sendArgs: Record<string, any>;
  /** Whose points: the key for caps, locks and the ledger. */
  customer: string;
  /** Every identifier of the customer the call named (normalised; the customer key first). */
  identities: string[];
  /** Points counted against the caps (0 for reversals, which restore points). */
  points: number;
  /** Points moved for the customer: the confirmation budget, and what a human is shown. */
  moved: number | 'all';
  /** Capillary's customer id, when it was resolved. */
  customerId?: string;
  /** The call byte for byte (canonical JSON, a pinned program filled in): an identical repeat of
   * a success is replayed. */
  fingerprint: string;
  /** The operation by meaning: whose points, what moves, the agent's key. A repeat that differs
   * only cosmetically shares it, so it re-sends an attempt whose outcome is unknown. */
  meaning: string;
  /** The agent's own idempotency key, if it gave one. */
  agentKey?: string;
  keyPrefix: string;
  /** Whether the key travels upstream, so a re-send is deduplicated there. */
  keySentUpstream: boolean;
  /** Whether a re-send of this very request is a no-op upstream (see SpendSpec.resendable). */
  resendable: boolean;
  /** One line for a human: what will happen. */
  describe: string;
  /** Everything that makes the operation, for a human's confirmation: label and value. */
  facts: Array<[string, string]>;
}

export function deriveOperation(
  tool: AnySpendTool,
  args: Record<string, any>,
  sendArgs: Record<string, any>,
  who: Identity,
): Operation {
  const spec = tool.spend;
  const points = spec.points(args);
  const customer = who.key;
  const agentKey = spec.key(args);
  return {
    tool,
    args,
    sendArgs,
    customer,
    identities: who.ids,
    points,
    moved: spec.moved ? spec.moved(args) : points,
    customerId: who.customerId,
    fingerprint: fingerprint(tool.name, sendArgs),
    meaning: fingerprint(`${tool.name}#meaning`, { customer, ...spec.meaning(sendArgs), key: agentKey }),
    agentKey,
    keyPrefix: spec.keyPrefix,
    keySentUpstream: spec.keySentUpstream,
    resendable: spec.resendable ?? spec.keySentUpstream,
    describe: spec.describe(args),
    facts: factsOf(tool, sendArgs, who, spec.moved ? spec.moved(args) : points),
  };
}

const given = (c: Customer | undefined) =>
  (['mobile', 'email', 'external_id', 'id'] as const)
    .filter((k) => c?.[k])
    .map((k) => `${k} ${c?.[k]}`)
    .join(', ');

/** What a human confirming sees: the tool, the customer as given and as resolved, the points,
 * and every field of the tool that changes what moves (program, group, skip_validation...). */
function factsOf(
  tool: AnySpendTool,
  a: Record<string, any>,
  who: Identity,
  moved: number | 'all',
): Array<[string, string]> {
  const has = (k: string) => k in tool.input.shape;
  const resolved = who.customerId ? ` (Capillary customer id ${who.customerId})` : '';
  const facts: Array<[string, string]> = [
    ['tool', tool.name],
    ['customer', `${given(a.customer)}${resolved}`],
    ['points', moved === 'all' ? 'all remaining' : pointsString(moved)],
  ];
  if (has('redemption_id')) facts.push(['redemption', String(a.redemption_id)]);
  if (has('program_id')) facts.push(['program', a.program_id ?? '(default program)']);
  if (has('group'))
    facts.push([
      'group (points drawn from its pool)',
      a.group
        ? Object.entries(a.group)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')
        : 'none',
    ]);
  if (has('skip_validation'))
    facts.push([
      'skip_validation',
      a.skip_validation === undefined ? 'not set (the customer is validated)' : String(a.skip_validation),
    ]);
  if (has('validation_code')) facts.push(['validation code given', a.validation_code ? 'yes' : 'no']);
  if (has('entity'))
    facts.push([
      'filed at',
      Object.entries(a.entity ?? {})
        .map(([k, v]) => `${k} ${v}`)
        .join(', '),
    ]);
  return facts;
}
