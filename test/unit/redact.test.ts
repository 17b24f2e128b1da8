import { describe, expect, it } from 'vitest';
import { credentialSecrets } from '../../src/capillary/credentials.js';
import { MIN_FRAGMENT, REDACTED, Redactor } from '../../src/safety/redact.js';
import { basicCanaries, jwtCanaries, LeakScanner, spellingsOf } from '../fixtures/leak-scan.js';

const PASSWORD = 'cnry-pw-8d2e-41bb-x9';
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjbnJ5LW1ha2VyIn0.c2lnbmF0dXJlLWJ5dGVzLWNucnk';

describe('redactor', () => {
  it('removes secrets in values and secret-named keys, deep', () => {
    const r = new Redactor(['hunter2-secret']);
    const out = r.value({
      a: 'x hunter2-secret y',
      headers: { Authorization: 'Basic zzz', ok: 'fine' },
      list: ['hunter2-secret'],
    });
    expect(out).toEqual({
      a: 'x [REDACTED] y',
      headers: { Authorization: '[REDACTED]', ok: 'fine' },
      list: ['[REDACTED]'],
    });
  });
});

describe('redactor: spellings in transit', () => {
  const r = new Redactor(
    credentialSecrets({
      auth: { kind: 'basic', username: 'till.user', password: PASSWORD },
      uiAuthToken: JWT,
    }),
  );

  it('every derived credential, in every spelling, inside other text', () => {
    const all = { ...basicCanaries('till.user', PASSWORD), ...jwtCanaries(JWT) };
    for (const [label, secret] of Object.entries(all))
      for (const [how, text] of Object.entries(spellingsOf(secret))) {
        const out = r.text(`before ${text} after`);
        expect(out, `${label} as ${how}`).toContain(REDACTED);
        // The text around stays (a space next to a spelling may go with it: "Basic dGls..." is one).
        expect(out.startsWith('before') && out.endsWith(' after'), `${label} as ${how}: ${out}`).toBe(true);
        expect(new LeakScanner().add(label, secret).scan(how, out)).toEqual([]);
      }
  });

  it('mixed escapes and mixed case, as a proxy may write them', () => {
    const basic = basicCanaries('till.user', PASSWORD)['Basic header'];
    const mixed = encodeURIComponent(basic).replace(/%2B/g, '%2b').replace(/%3D/g, '\\u003D');
    expect(r.text(mixed)).toBe(REDACTED);
    expect(
      r.text(
        `md5=${basicCanaries('till.user', PASSWORD)['md5(password)'].replace(/[a-f]/g, (c, i) => (i % 2 ? c.toUpperCase() : c))}`,
      ),
    ).toBe(`md5=${REDACTED}`);
  });

  it(`pieces of ${MIN_FRAGMENT}+ characters anywhere; shorter ones are left (documented)`, () => {
    const basic = basicCanaries('till.user', PASSWORD)['Basic header'];
    expect(r.text(`${basic.slice(0, MIN_FRAGMENT)}…`)).toBe(`${REDACTED}…`);
    expect(r.text(`…${basic.slice(-MIN_FRAGMENT)}`)).toBe(`…${REDACTED}`);
    expect(r.text(`x${basic.slice(10, 10 + MIN_FRAGMENT)}y`)).toBe(`x${REDACTED}y`);
    expect(r.text(basic.slice(0, MIN_FRAGMENT - 1))).toBe(basic.slice(0, MIN_FRAGMENT - 1));
  });

  it('a short secret only whole; nothing at all under 4 characters', () => {
    const s = new Redactor(['pw12345', 'abc']);
    expect(s.text('the pw12345 here, PW12345 too')).toBe(`the ${REDACTED} here, ${REDACTED} too`);
    expect(s.text('pw1234 abc')).toBe('pw1234 abc');
  });

  it('keys, values and secret-named fields, deep; clean values are the same strings', () => {
    const out = r.value({
      [PASSWORD]: 1,
      nested: [{ token: 'x', note: `a ${JWT.split('.')[2]} b` }],
      ok: 'fine',
    });
    expect(out).toEqual({
      [REDACTED]: 1,
      nested: [{ token: REDACTED, note: `a ${REDACTED} b` }],
      ok: 'fine',
    });
  });

  it('keeps only the last four issued tokens', () => {
    const s = new Redactor([]);
    const tokens = [
      'q1w2e3r4t5y6u7',
      'a9s8d7f6g5h4j3',
      'z1x2c3v4b5n6m7',
      'p0o9i8u7y6t5r4',
      'l1k2j3h4g5f6d7',
      'm9n8b7v6c5x4z3',
    ];
    for (const t of tokens) s.addIssued(t);
    expect(tokens.map((t) => s.finds(`x ${t} y`))).toEqual([false, false, true, true, true, true]);
  });
});
