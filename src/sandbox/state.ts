/**
 * Sandbox state: customers, groups, redemptions, idempotency keys, validation codes and workflow
 * requests, with indexes for O(1) lookups. Reading and writing the state file: state-file.ts.
 */
import { randomBytes } from 'node:crypto';
import { type IdentifierKind, normalizeIdentifier } from './identity.js';
import { parseMilli } from './points.js';
import type { EventName, FaultKind, SandboxSeed, SandboxSeedPromised } from './seed.js';

export interface PromisedRec {
  billNumber: string;
  pointsMilli: number;
  programId: number;
  itemCode: string | null;
  lineItemId: number | null;
  eventName: EventName;
  eventLogId: number | null;
  /** a promotion's promised points (null on a bill's own entries): its id, external identifier, name */
  promotionId: number | null;
  promotionIdentifier: string | null;
  promotionName: string | null;
  unlockedAt: number | null;
}

export interface FaultRec {
  kind: FaultKind;
  /** requests still affected; null = every request */
  remaining: number | null;
}

export interface CustomerRec {
  id: number;
  mobile: string;
  email: string | null;
  externalId: string | null;
  cardNumber: string | null;
  /** the customer's CUID identifier */
  cuid: string | null;
  pointsMilli: number;
  /** lifetime redeemed (gross) */
  redeemedMilli: number;
  /** lifetime reversed */
  reversedMilli: number;
  promised: PromisedRec[];
  requiresValidation: boolean;
  fault: FaultRec | null;
}

export interface GroupRec {
  id: number;
  externalId: string | null;
  name: string | null;
  primaryMemberId: number;
  memberIds: number[];
  /** the pooled balance */
  pointsMilli: number;
  /** lifetime redeemed from the pool (gross) */
  redeemedMilli: number;
  /** lifetime reversed into the pool */
  reversedMilli: number;
  redemptionConfigured: boolean;
  enableGroupProgramsRedemption: boolean;
  /** promised points on the group's bills (a USERGROUP2 unlock adds them to the pool) */
  promised: PromisedRec[];
}

export interface ReversalRec {
  reversalId: string;
  pointsMilli: number;
  at: number;
}

export interface RedemptionRec {
  redemptionId: string;
  /** numeric id (updateRedemption "id", side effect id) */
  id: number;
  customerId: number;
  /** the group whose pool paid for it (a group redemption), or null */
  groupId: number | null;
  pointsMilli: number;
  balanceAfterMilli: number;
  programId: number;
  transactionNumber: string;
  billNumber: string;
  /** exact digits, or null when never set (-1 on the wire) */
  billId: string | null;
  notes: string;
  purpose: string;
  validationCode: string;
  externalReferenceNumber: string | null;
  redemptionTime: string | null;
  customFields: unknown;
  createdAt: number;
  updatedAt: number | null;
  reversedMilli: number;
  reversals: ReversalRec[];
  /** the original success response body, kept for idempotent replays */
  originalResponse: string | null;
}

export type IdemRec =
  | { outcome: 'success'; redemptionId: string; at: number }
  | { outcome: 'failed'; code: number; message: string; at: number };

export interface OtpRec {
  customerId: number;
  pointsMilli: number;
  code: string;
  issuedAt: number;
  expiresAt: number;
}

export type WorkflowState = 'AdminTask' | 'Approved' | 'Rejected' | 'Failed';

export interface WorkflowRec {
  requestId: string;
  userId: number;
  userName: string;
  requestType: string;
  state: WorkflowState;
  startTime: number;
  endTime: number | null;
  entityInfo: unknown;
  /** the IntouchAPITask-Payload exactly as sent (RawNumbers kept) */
  task: unknown;
  adminTask: { actionDecision: string; actionMessage: string | null; decidedAt: number } | null;
  result: { httpStatus: number; body: unknown } | null;
}

export interface StateData {
  format: 'capillary-sandbox-state';
  version: 1;
  savedAt: number;
  seq: { redemption: number; effect: number };
  customers: CustomerRec[];
  /** absent in state files written before groups existed */
  groups?: GroupRec[];
  redemptions: RedemptionRec[];
  idempotency: Record<string, IdemRec>;
  otps: OtpRec[];
  requests: WorkflowRec[];
}

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

export function randomId(len: number, alphabet = ID_ALPHABET): string {
  const bytes = randomBytes(len);
  let s = '';
  for (let i = 0; i < len; i++) s += alphabet[bytes[i] % alphabet.length];
  return s;
}

export class Store {
  readonly customers = new Map<number, CustomerRec>();
  /** `${kind}:${normalised value}` -> customer, for every identifier of every customer */
  private readonly byIdentifier = new Map<string, CustomerRec>();
  readonly groups = new Map<number, GroupRec>();
  /** `${kind}:${normalised value}` -> group, for its id and external id */
  private readonly groupByIdentifier = new Map<string, GroupRec>();
  /** customer id -> the group the customer is a member of */
  private readonly groupByMember = new Map<number, GroupRec>();
  readonly redemptions = new Map<string, RedemptionRec>();
  readonly idempotency = new Map<string, IdemRec>();
  /** key `${customerId}:${pointsMilli}` */
  readonly otps = new Map<string, OtpRec>();
  readonly requests = new Map<string, WorkflowRec>();
  seq = { redemption: 396000, effect: 27141000 };

  /** @param statePath where state-file.ts persists this store after every mutation, if anywhere */
  constructor(readonly statePath?: string) {}

  addCustomer(c: CustomerRec): void {
    this.customers.set(c.id, c);
    const ids: Array<[IdentifierKind, string | null]> = [
      ['id', String(c.id)],
      ['mobile', c.mobile],
      ['email', c.email],
      ['externalId', c.externalId],
      ['cardnumber', c.cardNumber],
      ['cuid', c.cuid],
    ];
    for (const [kind, value] of ids) {
      const key = value === null ? null : normalizeIdentifier(kind, value);
      if (key !== null) this.byIdentifier.set(`${kind}:${key}`, c);
    }
  }

  addGroup(g: GroupRec): void {
    this.groups.set(g.id, g);
    for (const [kind, value] of [
      ['id', String(g.id)],
      ['externalId', g.externalId],
    ] as const) {
      const key = value === null ? null : normalizeIdentifier(kind, value);
      if (key !== null) this.groupByIdentifier.set(`${kind}:${key}`, g);
    }
    for (const m of g.memberIds) this.groupByMember.set(m, g);
  }

  /** The group a group id (`id`) or group external id (`externalId`) names. */
  findGroup(kind: 'id' | 'externalId', value: string): GroupRec | null {
    const key = normalizeIdentifier(kind, value);
    return key === null ? null : (this.groupByIdentifier.get(`${kind}:${key}`) ?? null);
  }

  /** The group this customer is a member of, if any. */
  groupOf(customerId: number): GroupRec | null {
    return this.groupByMember.get(customerId) ?? null;
  }

  /** The customer an identifier names, compared the way Capillary compares it (identity.ts). */
  findCustomer(kind: IdentifierKind, value: string): CustomerRec | null {
    const key = normalizeIdentifier(kind, value);
    return key === null ? null : (this.byIdentifier.get(`${kind}:${key}`) ?? null);
  }

  static fromSeed(seed: SandboxSeed, statePath?: string): Store {
    const st = new Store(statePath);
    for (const c of seed.customers) {
      st.addCustomer({
        id: c.id,
        mobile: c.mobile,
        email: c.email ?? null,
        externalId: c.external_id ?? null,
        cardNumber: c.card_number ?? null,
        cuid: c.cuid ?? null,
        pointsMilli: milliOf(c.points),
        redeemedMilli: 0,
        reversedMilli: 0,
        promised: (c.promised ?? []).map((p) => promisedOf(p, 'TransactionAdd')),
        requiresValidation: c.requires_validation === true,
        fault: c.fault ? { kind: c.fault.kind, remaining: c.fault.times ?? null } : null,
      });
    }
    for (const g of seed.groups ?? []) {
      st.addGroup({
        id: g.id,
        externalId: g.external_id ?? null,
        name: g.name ?? null,
        primaryMemberId: g.primary_member,
        memberIds: [...g.members],
        pointsMilli: milliOf(g.points),
        redeemedMilli: 0,
        reversedMilli: 0,
        redemptionConfigured: g.redemption_configured !== false,
        enableGroupProgramsRedemption: g.enable_group_programs_redemption === true,
        promised: (g.promised ?? []).map((p) => promisedOf(p, 'GroupTransactionAdd')),
      });
    }
    return st;
  }

  toData(now: number): StateData {
    return {
      format: 'capillary-sandbox-state',
      version: 1,
      savedAt: now,
      seq: { ...this.seq },
      customers: [...this.customers.values()],
      groups: [...this.groups.values()],
      redemptions: [...this.redemptions.values()],
      idempotency: Object.fromEntries(this.idempotency),
      otps: [...this.otps.values()],
      requests: [...this.requests.values()],
    };
  }

  static fromData(data: StateData, statePath?: string): Store {
    const st = new Store(statePath);
    st.seq = { ...data.seq };
    // files written before card numbers, CUIDs and promotions existed have none
    for (const c of data.customers)
      st.addCustomer({
        ...c,
        cardNumber: c.cardNumber ?? null,
        cuid: c.cuid ?? null,
        promised: c.promised.map(promisedFromData),
      });
    for (const g of data.groups ?? [])
      st.addGroup({ ...g, promised: (g.promised ?? []).map(promisedFromData) });
    for (const r of data.redemptions)
      st.redemptions.set(r.redemptionId, { ...r, groupId: r.groupId ?? null });
    for (const [k, v] of Object.entries(data.idempotency)) st.idempotency.set(k, v);
    for (const o of data.otps) st.otps.set(`${o.customerId}:${o.pointsMilli}`, o);
    for (const w of data.requests) st.requests.set(w.requestId, w);
    return st;
  }
}

function promisedOf(p: SandboxSeedPromised, defaultEvent: EventName): PromisedRec {
  return {
    billNumber: String(p.bill_number),
    pointsMilli: milliOf(p.points),
    programId: p.program_id ?? 1,
    itemCode: p.item_code ?? null,
    lineItemId: p.line_item_id ?? null,
    eventName: p.event_name ?? defaultEvent,
    eventLogId: p.event_log_id ?? null,
    promotionId: p.promotion_id ?? null,
    promotionIdentifier: p.promotion_identifier ?? null,
    promotionName: p.promotion_name ?? null,
    unlockedAt: null,
  };
}

/** A promised entry of a state file; files written before promotion entries existed have none. */
function promisedFromData(p: PromisedRec): PromisedRec {
  return {
    ...p,
    promotionId: p.promotionId ?? null,
    promotionIdentifier: p.promotionIdentifier ?? null,
    promotionName: p.promotionName ?? null,
  };
}

function milliOf(v: number | string): number {
  const p = parseMilli(v);
  if (!p.ok) throw new Error(`invalid points value ${JSON.stringify(v)}`);
  return p.milli;
}
