import { createHash } from 'node:crypto';

/** Fixed sandbox credentials (public test values, like Stripe's test keys). */
export const SANDBOX_CREDENTIALS = {
  username: 'sandbox_till',
  password: 'sandbox-password',
  oauthKey: 'sandbox-key',
  oauthSecret: 'sandbox-secret',
  orgId: '50001',
  uiAuthToken: 'sandbox-ui-token',
} as const satisfies {
  username: 'sandbox_till';
  password: 'sandbox-password';
  oauthKey: 'sandbox-key';
  oauthSecret: 'sandbox-secret';
  orgId: '50001';
  uiAuthToken: 'sandbox-ui-token';
};

export function md5hex(s: string): string {
  return createHash('md5').update(s, 'utf8').digest('hex');
}

/** The Authorization header value Capillary expects: Basic base64(username:md5hex(password)). */
export function basicAuthHeader(username: string, password: string): string {
  return 'Basic ' + Buffer.from(`${username}:${md5hex(password)}`, 'utf8').toString('base64');
}
