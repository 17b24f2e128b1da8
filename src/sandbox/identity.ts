/**
 * Who a request is for: customer lookups by the identifiers the v1.1 and v2 endpoints accept.
 */
import { text } from './core.js';
import type { CustomerRec, Store } from './state.js';

/** v1.1 identifiers (mobile, email, external_id, id): all given ones must name the same customer. */
export function resolveV1(
  store: Store,
  ident: { mobile?: unknown; email?: unknown; external_id?: unknown; id?: unknown },
): CustomerRec | null {
  let found: CustomerRec | undefined;
  let any = false;
  const pick = (c: CustomerRec | undefined) => {
    any = true;
    if (!c || (found && found !== c)) return false;
    found = c;
    return true;
  };
  const mobile = text(ident.mobile);
  const email = text(ident.email);
  const ext = text(ident.external_id);
  const id = text(ident.id);
  if (mobile !== null && !pick(store.byMobile.get(mobile))) return null;
  if (email !== null && !pick(store.byEmail.get(email.toLowerCase()))) return null;
  if (ext !== null && !pick(store.byExternalId.get(ext))) return null;
  if (id !== null && !pick(/^\d+$/.test(id) ? store.customers.get(Number(id)) : undefined)) return null;
  return any ? (found ?? null) : null;
}

/** v2 identifier type/value (mobile, email, externalId|external_id, id). */
export function resolveV2(store: Store, type: string | null, value: string | null): CustomerRec | null {
  if (type === null || value === null) return null;
  switch (type.toLowerCase()) {
    case 'mobile':
      return store.byMobile.get(value) ?? null;
    case 'email':
      return store.byEmail.get(value.toLowerCase()) ?? null;
    case 'externalid':
    case 'external_id':
      return store.byExternalId.get(value) ?? null;
    case 'id':
    case 'userid':
    case 'customerid':
      return /^\d+$/.test(value) ? (store.customers.get(Number(value)) ?? null) : null;
    default:
      return null;
  }
}
