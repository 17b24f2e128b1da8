import { createHash } from 'node:crypto';

/** Capillary's Basic login: base64(username:md5hex(password)). */
export const md5hex = (s: string) => createHash('md5').update(s).digest('hex');
export const basicHeader = (username: string, password: string) =>
  `Basic ${Buffer.from(`${username}:${md5hex(password)}`).toString('base64')}`;

/**
 * Every credential the server holds or derives from its configuration, for the redactor (which
 * expands each into its spellings in transit): the password, its md5 (the part of the Basic
 * login that is secret), `username:md5` (what the Basic header's base64 decodes to), the Basic
 * header, the OAuth client secret, the UI JWT and each of its dot-separated parts, and the HTTP
 * transport's bearer token. OAuth access tokens are added as they are issued.
 */
export function credentialSecrets(c: {
  auth: { kind: 'basic'; username: string; password: string } | { kind: 'oauth'; secret: string };
  uiAuthToken?: string;
  httpToken?: string;
  stateKey?: string;
}): string[] {
  const out: string[] = [];
  if (c.auth.kind === 'basic' && c.auth.password) {
    const md5 = md5hex(c.auth.password);
    out.push(
      c.auth.password,
      md5,
      `${c.auth.username}:${md5}`,
      basicHeader(c.auth.username, c.auth.password),
    );
  }
  if (c.auth.kind === 'oauth' && c.auth.secret) out.push(c.auth.secret);
  if (c.uiAuthToken) out.push(c.uiAuthToken, ...c.uiAuthToken.split('.'));
  if (c.httpToken) out.push(c.httpToken);
  if (c.stateKey) out.push(c.stateKey);
  return out;
}
