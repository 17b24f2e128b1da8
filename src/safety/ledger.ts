// The idempotency ledger's vocabulary: an entry, and the store interface every ledger implements
// (memory-store.ts, file-store.ts). The rules that decide on it live in reserve.ts.
import type { ToolErrorBody } from '../errors.js';
import type { Decision, LedgerScope, LedgerView } from './reserve.js';

export type LedgerStatus = 'pending' | 'succeeded' | 'failed' | 'unknown';

/** A human's answer to a confirmation question; `lift`: an operator ended a customer's cooldown. */
export type HumanAnswer = 'accept' | 'decline' | 'cancel' | 'lift';

export interface LedgerEntry {
  /**
   * What the line records: a money attempt (absent), a human's answer to a confirmation
   * question (`answer`), a validation code sent to a customer (`code`), or a question waiting
   * for a human on the approval page (`approval`, see approvals.ts). Answers, codes and approval
   * requests carry status "succeeded" and 0 points, so that an earlier version reading them
   * counts nothing.
   */
  kind?: 'answer' | 'code' | 'approval';
  /** The idempotency key sent upstream (external_reference_number); an answer's question id. */
  key: string;
  /** Hash of the tool and its canonical arguments. */
  fingerprint: string;
  /** Hash of the operation by meaning (customer, what moves, agent key); see Operation. */
  meaning?: string;
  tool: string;
  customer: string;
  /** Points spent by this attempt, counted against the caps (0 for reversals). */
  points: number;
  /** Points moved for the customer, counted against the confirmation budget, when they differ
   * from `points` (a reversal); "all" for a reversal of everything left. */
  moved?: number | 'all';
  /** The question whose "yes" this attempt spends (one attempt per yes). */
  approval?: string;
  /** An answer line: what the human said, and when the question was asked for (`at`). */
  answer?: HumanAnswer;
  status: LedgerStatus;
  /** When the attempt started (ms since epoch). */
  at: number;
  updated: number;
  /** True when the agent chose the key. */
  agent_key: boolean;
  /** When the operation was first sent (a re-send moves `at`, never this). */
  first_at?: number;
  /** The process that wrote the entry ("host:pid:nonce"), to tell in-flight from abandoned. */
  owner?: string;
  /** Every identifier of the customer the call named (normalised), so that an unsettled attempt
   * blocks the customer under any of them. */
  ids?: string[];
  /** An approval request: when it stops taking an answer (ms since epoch). */
  expires?: number;
  /** An approval request: what the human is shown (one line, every fact, why they are asked). */
  shown?: { title: string; summary: string; facts: Array<[string, string]>; why: string };
  /** An answer given on the approval page, or a lifted cooldown: the operator who gave it. */
  by?: string;
  /** Who settled an unknown attempt by hand, and why (`capillary-loyalty-mcp settle`). */
  settled_by?: string;
  /** Redacted structured result of a success, replayed on a repeat. */
  result?: Record<string, unknown>;
  error?: ToolErrorBody;
}

/** What IdempotencyStore.recent() reads. */
export interface RecentOptions {
  limit?: number;
  meaning?: string;
}

/** What /healthz says of the ledger. */
export interface LedgerHealth {
  ok: boolean;
  /** Why not, without internals (no address, no credentials). */
  reason?: string;
}

/**
 * The idempotency ledger's interface. Everything above it (the tool pipeline) speaks only to
 * this: the memory, file and PostgreSQL stores implement it (test/unit/store-contract.test.ts
 * runs the same behaviours against each).
 */
export interface IdempotencyStore {
  /** Picks up entries other processes wrote since the last call. */
  refresh(): Promise<void>;
  /** The newest entry with this fingerprint, if any. */
  latest(fingerprint: string): Promise<LedgerEntry | undefined>;
  byKey(key: string): Promise<LedgerEntry | undefined>;
  /** Durably records a new attempt; resolves once it is on disk. Nothing is sent before that. */
  put(entry: LedgerEntry): Promise<void>;
  /**
   * Records an attempt's outcome. Resolves once the record is safe from the process dying; it is
   * on disk one group commit later. Losing it (the machine failing in that gap) leaves the
   * attempt's pending entry, which reads back as unknown: a repeat re-sends the same key.
   */
  settle(entry: LedgerEntry): Promise<void>;
  /** Points spent by a customer since a time: succeeded, pending and unknown attempts count. */
  spentSince(customer: string, since: number): Promise<number>;
  /**
   * The one atomic step (see reserve.ts): runs `decide` on the ledger as it is at this moment,
   * other processes' lines included, and writes the pending entry it returns, so that no other
   * writer can decide in between. Resolves once that entry is durable; nothing is sent before.
   * `scope` names what `decide` may read (a store may load only that, and lock its identities).
   */
  reserve(decide: (view: LedgerView) => Decision, scope: LedgerScope): Promise<Decision>;
  /** Runs `look` on the ledger as it is now, writing nothing (a check before asking a human). */
  peek<T>(look: (view: LedgerView) => T, scope: LedgerScope): Promise<T>;
  /** Every attempt whose outcome is not known, at any age (the operator's list). */
  unresolvedAll(): Promise<LedgerEntry[]>;
  /**
   * Every entry written at or after `since` (within the horizon), each key's newest line once,
   * newest first, at most `limit`; with `meaning`, only that operation's (its attempts, approval
   * requests and answers). The operator console and approval requests read this.
   */
  recent(since: number, opts?: RecentOptions): Promise<LedgerEntry[]>;
  /**
   * Writes a human's answer (kind `answer`) only if no answer with its key exists yet: true
   * when written (durably), false when the question already had one. Atomic across processes.
   */
  answerOnce(entry: LedgerEntry): Promise<boolean>;
  /** Whether the ledger can be read and written now. */
  health(): Promise<LedgerHealth>;
  close(): Promise<void>;
}

export { FileStore, LEGACY_LEDGER, ledgerFiles, segmentName } from './file-store.js';
export { DEFAULT_HORIZON_MS } from './ledger-index.js';
export { MemoryStore } from './memory-store.js';
