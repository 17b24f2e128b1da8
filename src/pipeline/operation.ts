// The operation a money call stands for, derived once right after its arguments are checked and
// passed along: every later stop (caps, confirmation, ledger, audit) reads it, none calls back
// into the tool's spend spec.
import { fingerprint } from '../safety/fingerprint.js';
import type { AnySpendTool } from '../toolkit/define.js';
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
  /** Points a human is shown when confirming. */
  confirmPoints: number | undefined;
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
  /** Whether the client may re-send the request by itself (the API dedupes that very request). */
  autoResend: boolean;
  /** One line for a human: what will happen. */
  describe: string;
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
    confirmPoints: spec.confirmPoints ? spec.confirmPoints(args) : points,
    fingerprint: fingerprint(tool.name, sendArgs),
    meaning: fingerprint(`${tool.name}#meaning`, { customer, ...spec.meaning(sendArgs), key: agentKey }),
    agentKey,
    keyPrefix: spec.keyPrefix,
    keySentUpstream: spec.keySentUpstream,
    autoResend: spec.autoResend ?? spec.keySentUpstream,
    describe: spec.describe(args),
  };
}
