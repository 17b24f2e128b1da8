/**
 * Groups with pooled points (Capillary's user group 2): which group a redeem or isredeemable
 * query addresses through its `user_group2_*` parameters, and the group rules shared by both.
 */
import { type Params, text } from './core.js';
import { identifierKind, resolveV2 } from './identity.js';
import type { CustomerRec, GroupRec, Store } from './state.js';

export const GROUP_INVALID: [number, string] = [1632, 'Invalid or non-existent groupId'];
export const GROUP_NOT_CONFIGURED: [number, string] = [828, 'Points redemption not configured for the group'];
export const GROUP_FROM_NON_GROUP_PAYLOAD: [number, string] = [
  3316,
  'group redemption action executed from non group redemption payload',
];

/** No group parameter; a group they all name; or parameters that name no group (1632). */
export type GroupAsk = { kind: 'none' } | { kind: 'group'; group: GroupRec } | { kind: 'invalid' };

/**
 * The group the `user_group2_*` query parameters address. Any non-empty one makes it a group
 * redemption. The group is named by `user_group2_id`, `user_group2_external_id`,
 * `user_group2_primary_user_id`, or `user_group2_primary_user_identifier_type` with `_value`
 * (the primary member's identifier); every one given must name the same group. `_source` and
 * `_accountId` are accepted and not checked (every sandbox customer is on every source).
 */
export function groupFromQuery(store: Store, q: Params): GroupAsk {
  const any = [...q.keys()].some((k) => k.startsWith('user_group2_') && text(q.get(k)) !== null);
  if (!any) return { kind: 'none' };
  const primaryGroup = (c: CustomerRec | null) => {
    const g = c ? store.groupOf(c.id) : null;
    return g && g.primaryMemberId === c?.id ? g : null;
  };
  const named: Array<GroupRec | null> = [];
  const id = text(q.get('user_group2_id'));
  if (id !== null) named.push(store.findGroup('id', id));
  const ext = text(q.get('user_group2_external_id'));
  if (ext !== null) named.push(store.findGroup('externalId', ext));
  const primaryId = text(q.get('user_group2_primary_user_id'));
  if (primaryId !== null) named.push(primaryGroup(store.findCustomer('id', primaryId)));
  const type = text(q.get('user_group2_primary_user_identifier_type'));
  const value = text(q.get('user_group2_primary_user_identifier_value'));
  if (type !== null || value !== null) named.push(primaryGroup(resolveV2(store, type, value)));
  const first = named[0];
  if (!first || named.some((g) => g !== first)) return { kind: 'invalid' };
  return { kind: 'group', group: first };
}

/**
 * The group rules once the customer is known, in order: a group redemption must be made by a
 * member (1632 otherwise) of a group with redemption configured (828); a member of a group with
 * ENABLE_GROUP_PROGRAMS_REDEMPTION must redeem as the group (3316). Null when they pass.
 */
export function groupProblem(store: Store, ask: GroupAsk, c: CustomerRec): [number, string] | null {
  if (ask.kind === 'group') {
    if (!ask.group.memberIds.includes(c.id)) return GROUP_INVALID;
    if (!ask.group.redemptionConfigured) return GROUP_NOT_CONFIGURED;
    return null;
  }
  if (store.groupOf(c.id)?.enableGroupProgramsRedemption) return GROUP_FROM_NON_GROUP_PAYLOAD;
  return null;
}

/** A group named by a v2 entity identifier: `id` (the group id) or `externalId`; null otherwise. */
export function groupByIdentifier(store: Store, type: string, value: string): GroupRec | null {
  const kind = identifierKind(type);
  return kind === 'id' || kind === 'externalId' ? store.findGroup(kind, value) : null;
}
