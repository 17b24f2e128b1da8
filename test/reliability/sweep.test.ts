import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CANARY, Sweep } from '../fixtures/canary.js';
import { basicHeader } from '../fixtures/fake-capillary.js';

/**
 * Positive controls for the canary sweep every reliability suite runs: a detector that has never
 * been shown to detect anything proves nothing. Each form the brief names (plain, base64, md5),
 * at every base64 alignment, inside other text, must be found.
 */
describe('the canary sweep finds every form of a secret', () => {
  const md5 = (s: string) => createHash('md5').update(s).digest('hex');
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const secrets = [
    CANARY.password,
    CANARY.uiToken,
    CANARY.oauthSecret,
    `${CANARY.tokenPrefix}-7-abcdef012345`,
  ];
  const forms = (s: string): Array<[string, string]> => [
    ['plain', `error: ${s} refused`],
    ['base64', b64(s)],
    ['base64, offset 1', b64(`x${s}y`)],
    ['base64, offset 2', b64(`xy${s}`)],
    ['base64url', b64(`?${s}`).replace(/\+/g, '-').replace(/\//g, '_')],
    ['md5', `hash=${md5(s)}`],
    ['md5 upper', md5(s).toUpperCase()],
    ['base64 of md5', b64(`user:${md5(s)}`)],
  ];
  it.each(secrets.flatMap((s) => forms(s).map(([f, t]) => [s.slice(0, 10), f, t] as const)))(
    '%s… as %s',
    (secret, _form, text) => {
      const sweep = new Sweep();
      sweep.addSecret(secrets.find((s) => s.startsWith(secret))!);
      sweep.add('sample', { nested: { text } });
      expect(sweep.check().length).toBeGreaterThan(0);
    },
  );
  it('the Basic auth header of the canary password', () => {
    const sweep = new Sweep();
    sweep.add('sample', `Authorization: ${basicHeader(CANARY.user, CANARY.password)}`);
    expect(sweep.check().length).toBeGreaterThan(0);
  });
  it('and stays quiet on clean text', () => {
    const sweep = new Sweep();
    sweep.add('sample', { error: { code: 401, message: 'Unauthorized', hint: '[REDACTED]' } });
    expect(sweep.check()).toEqual([]);
  });
});
