import { describe, expect, it } from 'vitest';
import { credentialSecrets } from '../src/capillary/credentials.js';
import { ToolError } from '../src/errors.js';
import { recordAttempt, recordAudit } from '../src/safety/audit.js';
import { MIN_FRAGMENT, REDACTED, Redactor } from '../src/safety/redact.js';
import { bound, MAX_DEPTH } from '../src/safety/untrusted.js';
import { basicCanaries, jwtCanaries, LeakScanner, spellingsOf } from './helpers/leak-scan.js';

const PASSWORD = 'cnry-pw-8d2e-41bb-x9';
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjbnJ5LW1ha2VyIn0.c2lnbmF0dXJlLWJ5dGVzLWNucnk';

describe('redactor', () => {
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

describe('bound (untrusted input)', () => {
  const limits = { maxStringChars: 10, maxArrayItems: 5 };

  it('cuts long strings with a marker and arrays to their first items, naming each cut; keeps every key', () => {
    const input = {
      id: 'short',
      message: 'x'.repeat(25),
      rows: [1, 2, 3, 4, 5, 6, 7],
      map: { a: 1, b: 2, c: 3, d: 4, e: 5, f: 6 },
      nested: { list: ['0123456789abc'] },
    };
    const before = JSON.stringify(input);
    const { value, cut } = bound(input, limits);
    expect(value).toEqual({
      id: 'short',
      message: `${'x'.repeat(10)}… [cut: 15 more characters]`,
      rows: [1, 2, 3, 4, 5],
      map: { a: 1, b: 2, c: 3, d: 4, e: 5, f: 6 },
      nested: { list: ['0123456789… [cut: 3 more characters]'] },
    });
    expect(cut).toEqual([
      'message: 15 of 25 characters cut',
      'rows: 2 of 7 items cut',
      'nested.list[0]: 3 of 13 characters cut',
    ]);
    expect(JSON.stringify(input)).toBe(before); // pure
  });

  it('never splits a surrogate pair; too deep becomes a marker; at most ten cuts are named', () => {
    expect(bound('123456789😀xyz', limits).value).toBe('123456789… [cut: 5 more characters]');
    let deep: unknown = 'bottom';
    for (let i = 0; i < MAX_DEPTH + 5; i++) deep = { d: deep };
    expect(JSON.stringify(bound(deep, limits).value)).toContain('[cut: nested too deep]');
    const many = bound(
      Array.from({ length: 3 }, () => ({
        a: 'x'.repeat(20),
        b: 'y'.repeat(20),
        c: 'z'.repeat(20),
        d: 'w'.repeat(20),
      })),
      limits,
    );
    expect(many.cut).toHaveLength(11);
    expect(many.cut.at(-1)).toBe('(2 more cuts)');
  });

  it('leaves data within the limits as it is, and says nothing', () => {
    const v = { a: 'abc', b: [1, 2], c: null, d: true, e: 1.5 };
    expect(bound(v, limits)).toEqual({ value: v, cut: [] });
  });
});

describe('audit attempts fail closed', () => {
  const sink = (fail: (until: string) => boolean) => {
    const calls: string[] = [];
    const errors: string[] = [];
    return {
      calls,
      errors,
      sink: {
        environment: 'live' as const,
        log: { error: (m: string) => errors.push(m) },
        audit: {
          write: async (r: { outcome: string }, until: string = 'written') => {
            calls.push(`${r.outcome}:${until}`);
            if (fail(until)) throw new Error('EIO');
          },
        },
      },
    };
  };

  it('an attempt waits for the disk; if it cannot be written the call is refused as not sent', async () => {
    const ok = sink(() => false);
    await recordAttempt(ok.sink as any, { tool: 'redeem_points', args: {}, started: Date.now(), key: 'k' });
    expect(ok.calls).toEqual(['attempt:synced']);

    const broken = sink((until) => until === 'synced');
    const e = await recordAttempt(broken.sink as any, { tool: 'redeem_points', args: {}, started: 0 }).catch(
      (x) => x,
    );
    expect(e).toBeInstanceOf(ToolError);
    expect((e as ToolError).body).toMatchObject({ code: 'audit_unavailable', outcome: 'not_sent' });
    expect(broken.errors).toEqual(['audit log unavailable; refusing to send']);
  });

  it('an outcome record that cannot be written is logged, not thrown (the call already happened)', async () => {
    const broken = sink(() => true);
    await recordAudit(broken.sink as any, { tool: 't', args: {}, started: 0, outcome: 'succeeded' });
    expect(broken.calls).toEqual(['succeeded:written']);
    expect(broken.errors).toEqual(['audit log write failed']);
  });
});
