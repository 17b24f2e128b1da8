import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { COOKIE, OperatorAuth, operatorToken, SESSION_MS, tokenFile } from '../../src/console/auth.js';
import { htmlWith } from '../../src/console/html.js';
import { approvalPage } from '../../src/console/pages.js';
import type { ApprovalState } from '../../src/safety/approvals.js';
import { Redactor } from '../../src/safety/redact.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const TOKEN = 'a-long-operator-token-for-unit-tests';
const cookie = (value: string) => `other=1; ${COOKIE}=${value}`;

describe('operator sessions', () => {
  const auth = new OperatorAuth(TOKEN);

  it('a signed session reads back with its name and a CSRF token; anything altered does not', () => {
    const v = auth.issue('ann');
    const s = auth.session(cookie(v));
    expect(s?.name).toBe('ann');
    expect(auth.checkCsrf(s!, s!.csrf)).toBe(true);
    expect(auth.checkCsrf(s!, `${s!.csrf}x`)).toBe(false);
    expect(auth.checkCsrf(s!, '')).toBe(false);
    expect(auth.checkCsrf(s!, undefined)).toBe(false);
    // Another session has another CSRF token.
    expect(auth.session(cookie(auth.issue('ann')))!.csrf).not.toBe(s!.csrf);
    const [body, sig] = v.split('.');
    const forged = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), n: 'mallory' }),
    ).toString('base64url');
    expect(auth.session(cookie(`${forged}.${sig}`))).toBeUndefined();
    expect(auth.session(cookie(`${body}.${sig}x`))).toBeUndefined();
    expect(auth.session(cookie(`${body}.${sig}.x`))).toBeUndefined();
    expect(auth.session(cookie(body))).toBeUndefined();
    expect(auth.session(undefined)).toBeUndefined();
    // Signed with another token: not a session here.
    expect(new OperatorAuth(`${TOKEN}-other`).session(cookie(v))).toBeUndefined();
  });

  it('a session expires', () => {
    const now = Date.now();
    const v = auth.issue('ann', now);
    expect(auth.session(cookie(v), COOKIE, now + SESSION_MS - 1)).toBeDefined();
    expect(auth.session(cookie(v), COOKIE, now + SESSION_MS + 1)).toBeUndefined();
  });

  it('only the operator token signs in', () => {
    expect(auth.checkToken(TOKEN)).toBe(true);
    expect(auth.checkToken(` ${TOKEN}\n`)).toBe(true);
    expect(auth.checkToken(`${TOKEN}x`)).toBe(false);
    expect(auth.checkToken('')).toBe(false);
    expect(auth.checkToken(undefined)).toBe(false);
  });

  it('without CAPILLARY_OPERATOR_TOKEN one is generated once into the data dir, mode 0600', () => {
    const dir = mkdtempSync(join(tmpdir(), 'clmcp-optoken-'));
    dirs.push(dir);
    const data = join(dir, 'data');
    const t = operatorToken(undefined, data);
    expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(statSync(tokenFile(data)).mode & 0o777).toBe(0o600);
    expect(operatorToken(undefined, data)).toBe(t);
    expect(operatorToken('configured', data)).toBe('configured');
  });
});

describe('pages', () => {
  const secret = 'sekr3t-password-value';
  const h = htmlWith((s) => new Redactor([secret]).text(s));

  it('escape what they show and redact secrets', () => {
    expect(h`<p>${'<script>alert(1)</script>'}</p>`.s).toBe('<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>');
    expect(h`<a title="${'" onmouseover="x'}">`.s).not.toContain('" onmouseover');
    expect(h`${`password ${secret}`}`.s).not.toContain(secret);
  });

  it('the approval page shows the operation with its facts escaped, and forms only while pending', () => {
    const now = Date.now();
    const s: ApprovalState = {
      handle: 'ap-AAAAAAAAAAAAAAAAAAAAAAAA',
      status: 'pending',
      request: {
        kind: 'approval',
        key: 'request:ap-AAAAAAAAAAAAAAAAAAAAAAAA',
        fingerprint: 'approval:x',
        tool: 'redeem_points',
        customer: 'id:1',
        points: 0,
        status: 'succeeded',
        at: now,
        updated: now,
        expires: now + 60_000,
        agent_key: false,
        shown: {
          title: 'Redeem points',
          summary: 'Redeem 500 points',
          facts: [['bill_number', '<img src=x onerror=alert(1)>']],
          why: `because ${secret}`,
        },
      },
    };
    const v = { h, base: '/console', who: { name: 'ann', csrf: 'CSRF123' } };
    const html = approvalPage(v, s);
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).not.toContain('<img');
    expect(html).not.toContain(secret);
    expect(html.match(/name="csrf" value="CSRF123"/g)?.length).toBeGreaterThanOrEqual(2);
    expect(html).toContain('value="approve"');
    const answered = approvalPage(v, { ...s, status: 'expired' });
    expect(answered).not.toContain('value="approve"');
  });
});
