/**
 * The approval page and the operator console in a real browser: Debian's Chromium driven by
 * playwright-core, against the built server and a real MCP client that cannot elicit (stdio and
 * HTTP). Money is judged by what the fake Capillary was sent, not by the server's word.
 * With SCREENSHOTS=1 the pages are written to docs/img/ (docs/approvals.md shows them).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveEnv } from '../fixtures/canary.js';
import { spawnHttp } from '../fixtures/cli.js';
import { redemption as args, call, connectHttp } from '../fixtures/clients.js';
import { dedupingRedeem, REDEEM } from '../fixtures/fake-capillary.js';
import { perTest, sleep } from '../fixtures/lifecycle.js';
import { consoleUrlIn } from '../fixtures/operator.js';

const CHROMIUM = '/usr/bin/chromium';
const OP_TOKEN = 'browser-operator-token-8d3f0b6e21';
const SHOTS = process.env.SCREENSHOTS === '1' ? resolve(import.meta.dirname, '../../docs/img') : undefined;
// CI installs Chromium (.ci/run); a machine without it skips, CI never does.
const missing = !existsSync(CHROMIUM) && !process.env.CI;

const { server, fakeWith, track } = perTest();

let context: BrowserContext;
let profile: string;
beforeAll(async () => {
  if (missing) return;
  profile = mkdtempSync(join(tmpdir(), 'clmcp-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1100, height: 800 },
    javaScriptEnabled: false,
  });
}, 60_000);
afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

const pendingOf = (r: any) => {
  const e = r.structuredContent.error;
  expect(e).toMatchObject({ code: 'approval_pending', outcome: 'not_sent' });
  return e.approval as { id: string; url: string; expires: string };
};

async function shot(page: Page, name: string) {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, name), fullPage: true });
}

/** The text of the first element matching a selector. */
const text = async (page: Page, selector: string) =>
  ((await page.locator(selector).first().textContent({ timeout: 10_000 })) ?? '').replace(/\s+/g, ' ').trim();

/** Clicks a form's button and waits for the page the redirect leads to. */
async function submit(page: Page, selector: string) {
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click(selector)]);
}

/** Opens a link as a human would: the sign-in form first, then the page asked for. */
async function signIn(page: Page, url: string, name = 'Priya (operator)') {
  // Every test signs in afresh (one token for all the tests' servers, so a session would carry over).
  await page.context().clearCookies();
  await page.goto(url);
  expect(await text(page, 'h1')).toBe('Operator sign-in');
  await page.fill('input[name=name]', name);
  await page.fill('input[name=token]', OP_TOKEN);
  await submit(page, 'button[type=submit]');
}

async function stdioSetup(extra: Record<string, string> = {}, route = dedupingRedeem().route) {
  const fake = await fakeWith(route);
  const m = await server(
    liveEnv(fake.url, {
      CAPILLARY_CONFIRM_ABOVE_POINTS: '100',
      CAPILLARY_OPERATOR_TOKEN: OP_TOKEN,
      ...extra,
    }),
  );
  const base = consoleUrlIn(m.stderr())!;
  expect(base).toBeDefined();
  return { fake, m, base, sent: () => fake.count('POST', REDEEM) };
}

describe.skipIf(missing)('approval page and console in Chromium (JavaScript off)', () => {
  it('stdio: redeem above the threshold → pending → approved in the browser → the repeat spends exactly once', async () => {
    const { m, sent } = await stdioSetup();
    const a = pendingOf(await call(m.client, 'redeem_points', args(500)));
    const page = await context.newPage();
    try {
      await signIn(page, a.url);
      expect(await text(page, '.status')).toBe('pending');
      expect(await text(page, 'main')).toContain('Redeem 500 points from customer mobile 919000000001');
      expect(await text(page, 'main')).toContain('above the 100-point confirmation threshold');
      expect(await page.content()).not.toContain(OP_TOKEN);
      await shot(page, 'approval-page.png');
      await submit(page, 'button.approve');
      expect(await text(page, '.notice')).toContain('Approved');
      expect(await text(page, '.status')).toBe('approved');
      expect(sent()).toBe(0);
      expect((await call(m.client, 'redeem_points', args(500))).isError).toBeFalsy();
      expect((await call(m.client, 'redeem_points', args(500))).structuredContent.replayed).toBe(true);
      expect(sent()).toBe(1);
    } finally {
      await page.close();
    }
  });

  it('stdio: declined in the browser → the repeat is refused and nothing moves', async () => {
    const { m, sent } = await stdioSetup();
    const a = pendingOf(await call(m.client, 'redeem_points', args(700)));
    const page = await context.newPage();
    try {
      await signIn(page, a.url);
      await submit(page, 'button.decline');
      expect(await text(page, '.status')).toBe('declined');
      const r = await call(m.client, 'redeem_points', args(700));
      expect(r.structuredContent.error.code).toBe('confirmation_declined');
      await page.goto(a.url.replace(/\/approvals\/.*$/, '/'));
      expect(await text(page, 'main')).toContain('Customers in cooldown after a "no" (1)');
      expect(sent()).toBe(0);
    } finally {
      await page.close();
    }
  });

  it('stdio: an attempt whose outcome is unknown is settled in the console; the repeat is replayed, never sent again', async () => {
    const redeem = dedupingRedeem({ first: (n) => (n <= 20 ? { fault: 'reset' } : undefined) });
    const { m, base, sent } = await stdioSetup(
      { CAPILLARY_MAX_POINTS_PER_CUSTOMER_PER_DAY: '2000' },
      redeem.route,
    );
    const r = await call(m.client, 'redeem_points', args(50));
    expect(r.structuredContent.error.outcome).toBe('unknown');
    const before = sent();
    // A different call for the customer is blocked until it is settled.
    expect((await call(m.client, 'redeem_points', args(60))).structuredContent.error.code).toBe(
      'unresolved_attempt',
    );
    const page = await context.newPage();
    try {
      await signIn(page, `${base}/`);
      expect(await text(page, 'main')).toContain('Attempts whose outcome is unknown (1)');
      // Another customer's call waits for a yes meanwhile (the console lists it too).
      const other = { customer: { mobile: '919000000002' }, points: 250 };
      pendingOf(await call(m.client, 'redeem_points', other));
      await page.reload();
      expect(await text(page, 'main')).toContain('Approvals waiting for a human (1)');
      await shot(page, 'console.png');
      await page.selectOption('select[name=as]', 'applied');
      await page.fill('input[name=reason]', 'balance checked: 50 points left the account');
      await submit(page, 'form[action$="/settle"] button');
      expect(await text(page, '.notice')).toContain('The attempt is settled.');
      expect(await text(page, 'main')).toContain('Attempts whose outcome is unknown (0)');
      await page.goto(`${base}/audit?outcome=settled_applied`);
      expect(await text(page, 'main')).toContain('balance checked');
      await shot(page, 'audit.png');
    } finally {
      await page.close();
    }
    expect((await call(m.client, 'redeem_points', args(50))).structuredContent.replayed).toBe(true);
    expect(sent()).toBe(before);
    expect(redeem.state.spent).toBe(1);
  });

  it('stdio: no approval without the operator credential or a valid CSRF token, and none twice', async () => {
    const { m, sent } = await stdioSetup();
    const a = pendingOf(await call(m.client, 'redeem_points', args(500)));
    // A fresh browser with no session: the link shows the sign-in form, never the buttons.
    const anon = await context.browser()!.newContext();
    try {
      const p = await anon.newPage();
      await p.goto(a.url);
      expect(await text(p, 'h1')).toBe('Operator sign-in');
      expect(await p.locator('button.approve:has-text("Approve")').count()).toBe(0);
      const forged = await p.request.post(a.url, {
        form: { decision: 'approve', csrf: 'forged' },
        headers: { origin: new URL(a.url).origin },
        maxRedirects: 0,
      });
      expect(forged.status()).toBe(401);
      // A wrong token does not sign in.
      await p.fill('input[name=name]', 'mallory');
      await p.fill('input[name=token]', 'guess');
      await submit(p, 'button[type=submit]');
      expect(await text(p, '.error')).toContain('not the operator token');
    } finally {
      await anon.close();
    }
    const page = await context.newPage();
    const stale = await context.newPage();
    try {
      await signIn(page, a.url);
      // Signed in, but a forged CSRF token: refused.
      const forged = await page.request.post(a.url, {
        form: { decision: 'approve', csrf: 'forged' },
        headers: { origin: new URL(a.url).origin },
        maxRedirects: 0,
      });
      expect(forged.status()).toBe(403);
      expect(pendingOf(await call(m.client, 'redeem_points', args(500))).id).toBe(a.id);
      // Two tabs on one approval: the second answer is refused.
      await stale.goto(a.url);
      await submit(page, 'button.approve');
      expect(await text(page, '.status')).toBe('approved');
      await submit(stale, 'button.decline');
      expect(await text(stale, '.notice')).toContain('already has an answer');
      expect(await text(stale, '.status')).toBe('approved');
      expect((await call(m.client, 'redeem_points', args(500))).isError).toBeFalsy();
      expect(sent()).toBe(1);
    } finally {
      await page.close();
      await stale.close();
    }
  });

  it('stdio: an approval that expired unanswered cannot be approved, and the repeat asks again', async () => {
    const { m, sent } = await stdioSetup({ CAPILLARY_APPROVAL_TTL_SECONDS: '5' });
    const b = pendingOf(await call(m.client, 'redeem_points', args(800)));
    const page = await context.newPage();
    try {
      await signIn(page, b.url);
      expect(await text(page, '.status')).toBe('pending');
      // The form stays on the screen past the approval's expiry.
      await sleep(Math.max(0, Date.parse(b.expires) - Date.now() + 300));
      await submit(page, 'button.approve');
      expect(await text(page, '.notice')).toContain('expired');
      expect(await text(page, '.status')).toBe('expired');
    } finally {
      await page.close();
    }
    expect(pendingOf(await call(m.client, 'redeem_points', args(800))).id).not.toBe(b.id);
    expect(sent()).toBe(0);
  });

  it('HTTP: the page on the MCP listener under /console/; approve in the browser, the repeat spends once', async () => {
    const redeem = dedupingRedeem();
    const fake = await fakeWith(redeem.route);
    const srv = await spawnHttp(
      liveEnv(fake.url, {
        CAPILLARY_CONFIRM_ABOVE_POINTS: '100',
        CAPILLARY_APPROVAL: 'console',
        CAPILLARY_OPERATOR_TOKEN: OP_TOKEN,
      }),
    );
    track({ close: () => srv.stop() });
    const c = await connectHttp(srv.url);
    track({ close: () => c.close() });
    const a = pendingOf(await call(c, 'redeem_points', args(400)));
    expect(a.url.startsWith(srv.url.replace(/\/mcp$/, '/console/approvals/'))).toBe(true);
    const page = await context.newPage();
    try {
      await signIn(page, a.url);
      await submit(page, 'button.approve');
      expect(await text(page, '.status')).toBe('approved');
    } finally {
      await page.close();
    }
    expect((await call(c, 'redeem_points', args(400))).isError).toBeFalsy();
    expect((await call(c, 'redeem_points', args(400))).structuredContent.replayed).toBe(true);
    expect(fake.count('POST', REDEEM)).toBe(1);
  });
});
