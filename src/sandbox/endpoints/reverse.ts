/**
 * POST /v2/points/reverse: give a redemption's points back, in full or in parts, never more than
 * was redeemed.
 */
import { isObj, ORG_ID, type Reply, reply, type SandboxCore, text, v2Error } from '../core.js';
import { resolveV2 } from '../identity.js';
import { formatMilli, milliToNumber, parseMilli, scalarText } from '../points.js';
import { randomId } from '../state.js';

export function reverse(core: SandboxCore, body: unknown): Reply {
  if (!isObj(body)) return v2Error(400, 901, 'Invalid points or points redemption ID');
  const redemptionId = text(body.redemptionId);
  if (redemptionId === null) return v2Error(400, 901, 'Invalid points or points redemption ID');
  const ident = isObj(body.identifier) ? body.identifier : null;
  const type = ident ? text(ident.type) : null;
  const value = ident ? text(ident.value) : null;
  if (type === null || value === null) return v2Error(400, 904, 'Invalid customer details passed');
  const red = core.store.redemptions.get(redemptionId);
  if (!red) return v2Error(400, 902, 'Redemption ID does not exist');
  const c = resolveV2(core.store, type, value);
  if (!c || c.id !== red.customerId) return v2Error(400, 904, 'Invalid customer details passed');
  const gate = core.fault(c, 'v2');
  if ('stop' in gate) return gate.stop;
  const { out } = gate;

  const remaining = red.pointsMilli - red.reversedMilli;
  let milli = remaining;
  const given = body.pointsToBeReversed;
  if (given !== undefined && given !== null && given !== '') {
    const p = parseMilli(given);
    const t = scalarText(given) ?? '';
    if (!p.ok && p.reason === 'precision' && !t.startsWith('-')) {
      return out(v2Error(400, 878, 'Invalid decimal precision in points to be reversed'));
    }
    if (!p.ok || p.milli <= 0) return out(v2Error(400, 901, 'Invalid points or points redemption ID'));
    milli = p.milli;
  }
  if (remaining <= 0) return out(v2Error(400, 3802, 'Points already reversed for this redemption'));
  if (milli > remaining) {
    return out(
      v2Error(
        400,
        3801,
        `Points to be reversed (${formatMilli(milli)}) exceed the points still reversible on this redemption (${formatMilli(remaining)})`,
      ),
    );
  }
  let reversalId = randomId(6);
  while (red.reversals.some((r) => r.reversalId === reversalId)) reversalId = randomId(6);
  red.reversedMilli += milli;
  red.reversals.push({ reversalId, pointsMilli: milli, at: core.now() });
  // a group redemption's points go back to the group's pool
  const account = (red.groupId !== null ? core.store.groups.get(red.groupId) : undefined) ?? c;
  account.pointsMilli += milli;
  account.reversedMilli += milli;
  core.commit();
  return out(
    reply(200, {
      redemptionId,
      pointsToBeReversed: milliToNumber(milli),
      orgId: ORG_ID,
      identifier: { type, value },
      customerId: c.id,
      pointsReversed: milliToNumber(milli),
      reversalId,
      balance: milliToNumber(account.pointsMilli),
      warnings: [],
      errors: [],
    }),
  );
}
