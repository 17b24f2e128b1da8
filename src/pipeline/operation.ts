// The operation a money call stands for, derived once right after its arguments are checked and
// passed along: every later stop (caps, confirmation, ledger, audit) reads it, none calls back
// into the tool's spend spec.
import { fingerprint } from '../safety/fingerprint.js';
import type { AnySpendTool } from '../toolkit/define.js';

export interface Operation {
  tool: AnySpendTool;
  /** The checked arguments as the agent gave them. */
  args: Record<string, any>;
  /** The arguments the request is built from (a pinned program filled in). */
  sendArgs: Record<string, any>;
  /** Whose points: the key for caps, locks and the ledger. */
  customer: string;
  /** Points counted against the caps (0 for reversals, which restore points). */
  points: number;
  /** Points a human is shown when confirming. */
  confirmPoints: number | undefined;
  /** Identifies the operation: its repeats share it. */
  fingerprint: string;
  /** The agent's own idempotency key, if it gave one. */
  agentKey?: string;
  keyPrefix: string;
  /** Whether the key travels upstream, so a re-send is deduplicated there. */
  keySentUpstream: boolean;
  /** One line for a human: what will happen. */
  describe: string;
}

export function deriveOperation(
  tool: AnySpendTool,
  args: Record<string, any>,
  sendArgs: Record<string, any>,
): Operation {
  const spec = tool.spend;
  const points = spec.points(args);
  return {
    tool,
    args,
    sendArgs,
    customer: spec.customer(args),
    points,
    confirmPoints: spec.confirmPoints ? spec.confirmPoints(args) : points,
    fingerprint: fingerprint(tool.name, sendArgs),
    agentKey: spec.key(args),
    keyPrefix: spec.keyPrefix,
    keySentUpstream: spec.keySentUpstream,
    describe: spec.describe(args),
  };
}
