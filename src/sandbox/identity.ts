/**
 * Who a request is for. Capillary treats some spellings of an identifier as the same customer;
 * normalizeIdentifier() is the sandbox's one rule for that, used by the store's index (and so by
 * every endpoint's lookup) and by the seed's uniqueness check:
 * - `id`: digits, compared as a number (leading zeros do not matter: `0101` is 101);
 * - `mobile`: digits with the country code; a leading `+` and spaces are ignored;
 * - `email`: case-insensitive;
 * - `externalId`, `cardnumber`, `cuid`: exact (after trimming).
 */
import { text } from './core.js';
import type { CustomerRec, Store } from './state.js';

export type IdentifierKind = 'mobile' | 'email' | 'externalId' | 'cardnumber' | 'cuid' | 'id';

/** Identifier names as the endpoints accept them (compared case-insensitively), per kind. */
const KIND_BY_NAME: ReadonlyMap<string, IdentifierKind> = new Map([
  ['mobile', 'mobile'],
  ['email', 'email'],
  ['externalid', 'externalId'],
  ['external_id', 'externalId'],
  ['cardnumber', 'cardnumber'],
  ['card_number', 'cardnumber'],
  ['cuid', 'cuid'],
  ['id', 'id'],
  ['userid', 'id'],
  ['customerid', 'id'],
]);

/** The kind an identifier name (`identifierName`, `identifier.type`, ...) stands for; null if unsupported. */
export function identifierKind(name: string): IdentifierKind | null {
  return KIND_BY_NAME.get(name.trim().toLowerCase()) ?? null;
}

/** The one spelling of an identifier the sandbox compares; null when the value cannot be one. */
export function normalizeIdentifier(kind: IdentifierKind, value: string): string | null {
  const v = value.trim();
  if (v === '') return null;
  switch (kind) {
    case 'id':
      return /^\d+$/.test(v) ? v.replace(/^0+(?=\d)/, '') : null;
    case 'mobile': {
      const digits = v.replace(/\s+/g, '').replace(/^\+/, '');
      return /^\d+$/.test(digits) ? digits : null;
    }
    case 'email':
      return v.toLowerCase();
    default:
      return v;
  }
}

/** v1.1 identifiers: all given ones must name the same customer. */
export function resolveV1(
  store: Store,
  ident: { mobile?: unknown; email?: unknown; external_id?: unknown; id?: unknown; card_number?: unknown },
): CustomerRec | null {
  let found: CustomerRec | null = null;
  let any = false;
  const given: Array<[IdentifierKind, unknown]> = [
    ['mobile', ident.mobile],
    ['email', ident.email],
    ['externalId', ident.external_id],
    ['id', ident.id],
    ['cardnumber', ident.card_number],
  ];
  for (const [kind, raw] of given) {
    const value = text(raw);
    if (value === null) continue;
    any = true;
    const c = store.findCustomer(kind, value);
    if (!c || (found && found !== c)) return null;
    found = c;
  }
  return any ? found : null;
}

/** A v2 identifier (type or identifierName, and value). */
export function resolveV2(store: Store, type: string | null, value: string | null): CustomerRec | null {
  if (type === null || value === null) return null;
  const kind = identifierKind(type);
  return kind === null ? null : store.findCustomer(kind, value);
}
