import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { liveEnv } from '../fixtures/canary.js';
import { CLI, childEnv, type HttpChild, spawnHttp } from '../fixtures/cli.js';
import { redemption as args, call, connectHttp } from '../fixtures/clients.js';
import { dedupingRedeem, REDEEM } from '../fixtures/fake-capillary.js';
import { perTest, sleep } from '../fixtures/lifecycle.js';
import { consoleUrlIn, Operator } from '../fixtures/operator.js';

/**
 * Approvals on the approval page, through the built server and a real MCP client that cannot
 * elicit: the money call answers approval_pending with a link, an operator signs in and answers
 * over plain HTTP, and the fake Capillary counts what was really spent.
 */

const { server, fakeWith, track } = perTest();
const OP_TOKEN = 'operator-token-for-tests-4b7e1d2a9c';

async function setup(extra: Record<string, string> = {}) {
  const redeem = dedupingRedeem();
  const fake = await fakeWith(redeem.route);
  const env = liveEnv(fake.url, {
    CAPILLARY_CONFIRM_ABOVE_POINTS: '100',
    CAPILLARY_OPERATOR_TOKEN: OP_TOKEN,
    ...extra,
  });
  const m = await server(env);
  const base = consoleUrlIn(m.stderr());
  expect(base, m.stderr()).toBeDefined();
  const op = new Operator(base!);
  return { fake, m, op, env, sent: () => fake.count('POST', REDEEM) };
}

const pendingOf = (r: any) => {
  const e = r.structuredContent.error;
  expect(e).toMatchObject({ code: 'approval_pending', outcome: 'not_sent', source: 'safety' });
  return e.approval as { id: string; url: string; expires: string };
};
const handleIn = (url: string) => url.split('/').pop()!;

describe('approvals on the approval page (stdio, a client without elicitation)', () => {
  it('pending → approved by a signed-in operator → the identical repeat is sent exactly once', async () => {
    const { m, op, sent, env } = await setup();
    const r = await call(m.client, 'redeem_points', args(500));
    const a = pendingOf(r);
    expect(a.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/console\/approvals\/ap-[A-Za-z0-9_-]{24}$/);
    expect(r.structuredContent.error.hint).toMatch(/repeat this identical call/);
    // The link carries no credential, and no credential reaches the model or the log.
    expect(JSON.stringify(r)).not.toContain(OP_TOKEN);
    // A repeat before the human answered waits on the same approval; nothing is sent.
    expect(pendingOf(await call(m.client, 'redeem_points', args(500))).id).toBe(a.id);
    expect(sent()).toBe(0);

    expect((await op.login(OP_TOKEN)).status).toBe(303);
    const page = await op.get(`/approvals/${a.id}`);
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/Redeem 500 points/);
    expect(page.text).not.toContain(OP_TOKEN);
    const done = await op.decide(a.id, 'approve');
    expect(done.status).toBe(303);
    expect(done.location).toContain('done=approved');

    const ok = await call(m.client, 'redeem_points', args(500));
    expect(ok.isError).toBeFalsy();
    expect(sent()).toBe(1);
    // The third identical call is replayed, never sent again; the yes is spent.
    const again = await call(m.client, 'redeem_points', args(500));
    expect(again.structuredContent.replayed).toBe(true);
    expect(sent()).toBe(1);
    const after = await op.get(`/approvals/${a.id}`);
    expect(after.text).toMatch(/agent's repeat has used it/);
    expect(m.stderr()).not.toContain(OP_TOKEN);
    // The approval is in the audit log with who gave it.
    const audit = readFileSync(join(env.CAPILLARY_DATA_DIR, 'audit.jsonl'), 'utf8');
    expect(audit).toMatch(/"outcome":"approved","settled_by":"Test Operator"/);
  });

  it('declined: the repeat is refused, nothing moves, and the customer is in cooldown until lifted', async () => {
    const { m, op, sent } = await setup();
    const a = pendingOf(await call(m.client, 'redeem_points', args(500)));
    await op.login(OP_TOKEN);
    expect((await op.decide(a.id, 'decline')).location).toContain('done=declined');
    const r = await call(m.client, 'redeem_points', args(500));
    expect(r.structuredContent.error).toMatchObject({ code: 'confirmation_declined', outcome: 'not_sent' });
    // Cooldown: even a small call for the customer needs a yes now.
    pendingOf(await call(m.client, 'redeem_points', args(10)));
    expect(sent()).toBe(0);
    const overview = await op.get('/');
    expect(overview.text).toMatch(/Customers in cooldown after a "no" \(1\)/);
    // Lifting needs a reason, then is recorded with who and why.
    const csrf = await op.csrf('/');
    const customer = /name="customer" value="([^"]+)"/.exec(overview.text)![1];
    expect((await op.post('/lift', { csrf, customer, reason: '' })).location).toContain('reason-needed');
    expect((await op.post('/lift', { csrf, customer, reason: 'called the customer' })).location).toContain(
      'done=lifted',
    );
    expect((await op.get('/')).text).toMatch(/Customers in cooldown after a "no" \(0\)/);
    expect((await call(m.client, 'redeem_points', args(10))).isError).toBeFalsy();
    expect(sent()).toBe(1);
  });

  it('an approval covers only its own operation, once; without the operator credential, CSRF token or origin nothing is approved', async () => {
    const { m, op, sent } = await setup();
    const a = pendingOf(await call(m.client, 'redeem_points', args(500)));
    // Without signing in: the page redirects to the sign-in, the form post is refused.
    const anon = new Operator(op.base);
    expect((await anon.get(`/approvals/${a.id}`)).location).toMatch(/\/console\/login\?next=/);
    expect((await anon.post(`/approvals/${a.id}`, { decision: 'approve', csrf: 'x' })).status).toBe(401);
    // A wrong token does not sign in.
    expect((await anon.login('not-the-token')).status).toBe(401);
    expect((await anon.post(`/approvals/${a.id}`, { decision: 'approve', csrf: 'x' })).status).toBe(401);
    // The agent's own HTTP credential is not the operator's (there is none in stdio; a guess fails).
    await op.login(OP_TOKEN);
    const path = `/approvals/${a.id}`;
    const csrf = await op.csrf(path);
    expect((await op.post(path, { decision: 'approve', csrf: `${csrf}x` })).status).toBe(403);
    expect((await op.post(path, { decision: 'approve' })).status).toBe(403);
    expect(
      (await op.post(path, { decision: 'approve', csrf }, { origin: 'http://evil.example' })).status,
    ).toBe(403);
    expect((await op.post(path, { decision: 'approve', csrf }, { origin: null })).status).toBe(403);
    expect(pendingOf(await call(m.client, 'redeem_points', args(500))).id).toBe(a.id);
    expect(sent()).toBe(0);

    // Approved once; a second answer changes nothing.
    expect((await op.decide(a.id, 'approve')).location).toContain('done=approved');
    expect((await op.post(path, { decision: 'decline', csrf })).location).toContain('done=answered');
    // Another operation (other points, same customer) is not covered by it.
    const other = pendingOf(await call(m.client, 'redeem_points', args(600)));
    expect(other.id).not.toBe(a.id);
    expect(sent()).toBe(0);
    expect((await call(m.client, 'redeem_points', args(500))).isError).toBeFalsy();
    expect(sent()).toBe(1);
  });

  it('an expired approval cannot be approved and never moves points', async () => {
    const { m, op, sent } = await setup({ CAPILLARY_APPROVAL_TTL_SECONDS: '1' });
    const a = pendingOf(await call(m.client, 'redeem_points', args(500)));
    await op.login(OP_TOKEN);
    const path = `/approvals/${a.id}`;
    const csrf = await op.csrf(path);
    await sleep(1_300);
    expect((await op.post(path, { decision: 'approve', csrf })).location).toContain('done=expired');
    expect((await op.get(path)).text).toMatch(/class="status expired"/);
    // The repeat asks again, with a new approval.
    const b = pendingOf(await call(m.client, 'redeem_points', args(500)));
    expect(b.id).not.toBe(a.id);
    expect(sent()).toBe(0);
  });

  it('a client that declares URL-mode elicitation is handed the link that way, and the call still waits', async () => {
    const redeem = dedupingRedeem();
    const fake = await fakeWith(redeem.route);
    const m = await server(
      liveEnv(fake.url, { CAPILLARY_CONFIRM_ABOVE_POINTS: '100', CAPILLARY_OPERATOR_TOKEN: OP_TOKEN }),
      { capabilities: { elicitation: { url: {} } } },
    );
    const asked: any[] = [];
    m.client.setRequestHandler(ElicitRequestSchema, async (req) => {
      asked.push(req.params);
      return { action: 'accept' };
    });
    const a = pendingOf(await call(m.client, 'redeem_points', args(500)));
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({ mode: 'url', url: a.url, elicitationId: a.id });
    expect(asked[0].message).toMatch(/Redeem 500 points/);
    // Accepting the link is not a yes: nothing was sent.
    expect(fake.count('POST', REDEEM)).toBe(0);
  });

  it('CAPILLARY_APPROVAL=elicit keeps the old refusal; a handle that does not exist is a 404', async () => {
    const { m, op, sent } = await setup({ CAPILLARY_APPROVAL: 'elicit' });
    const r = await call(m.client, 'redeem_points', args(500));
    expect(r.structuredContent.error.code).toBe('confirmation_unavailable');
    await op.login(OP_TOKEN);
    expect((await op.get('/approvals/ap-AAAAAAAAAAAAAAAAAAAAAAAA')).status).toBe(404);
    expect(sent()).toBe(0);
  });
});

describe('the operator token when CAPILLARY_OPERATOR_TOKEN is unset', () => {
  it('is generated once into the data dir (0600), shown by `operator-token`, and signs in; the agent never sees it', async () => {
    const fake = await fakeWith(dedupingRedeem().route);
    const env = liveEnv(fake.url, { CAPILLARY_CONFIRM_ABOVE_POINTS: '100' });
    const show = () =>
      execFileSync(process.execPath, [CLI, 'operator-token'], {
        env: childEnv(env),
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    const token = show();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(show()).toBe(token);
    expect(statSync(join(env.CAPILLARY_DATA_DIR, 'operator-token')).mode & 0o777).toBe(0o600);
    const m = await server(env);
    const r = await call(m.client, 'redeem_points', args(500));
    const a = pendingOf(r);
    expect(JSON.stringify(r)).not.toContain(token);
    const op = new Operator(consoleUrlIn(m.stderr())!);
    expect((await op.login('wrong')).status).toBe(401);
    expect((await op.login(token)).status).toBe(303);
    expect((await op.decide(a.id, 'approve')).location).toContain('done=approved');
    expect((await call(m.client, 'redeem_points', args(500))).isError).toBeFalsy();
    expect(fake.count('POST', REDEEM)).toBe(1);
    expect(m.stderr()).not.toContain(token);
  });
});

describe('approvals over HTTP: the page on the same listener under /console/', () => {
  it('a client without elicitation gets the link; any request after the approval spends once', async () => {
    const redeem = dedupingRedeem();
    const fake = await fakeWith(redeem.route);
    const srv: HttpChild = track(
      Object.assign(
        await spawnHttp(
          liveEnv(fake.url, {
            CAPILLARY_CONFIRM_ABOVE_POINTS: '100',
            CAPILLARY_APPROVAL: 'console',
            CAPILLARY_OPERATOR_TOKEN: OP_TOKEN,
          }),
        ),
        { close: async () => srv.stop() },
      ),
    );
    // CAPILLARY_APPROVAL=console: no MCP_HTTP_TOKEN needed for a threshold (the yes is the operator's).
    const c = await connectHttp(srv.url);
    track({ close: () => c.close() });
    const a = pendingOf(await call(c, 'redeem_points', args(500)));
    expect(a.url).toBe(`${srv.url.replace(/\/mcp$/, '')}/console/approvals/${handleIn(a.url)}`);
    const op = new Operator(srv.url.replace(/\/mcp$/, '/console'));
    expect((await op.login(OP_TOKEN)).status).toBe(303);
    expect((await op.decide(a.id, 'approve')).location).toContain('done=approved');
    expect((await call(c, 'redeem_points', args(500))).isError).toBeFalsy();
    expect((await call(c, 'redeem_points', args(500))).structuredContent.replayed).toBe(true);
    expect(fake.count('POST', REDEEM)).toBe(1);
  });

  it('two replicas on one ledger: asked on one, approved on the page of the other, the repeat on either spends once', async () => {
    const fake = await fakeWith(dedupingRedeem().route);
    const env = liveEnv(fake.url, {
      CAPILLARY_CONFIRM_ABOVE_POINTS: '100',
      CAPILLARY_APPROVAL: 'console',
      CAPILLARY_OPERATOR_TOKEN: OP_TOKEN,
    });
    const spawn = async () => {
      const srv: HttpChild = await spawnHttp(env);
      track({ close: () => srv.stop() });
      const c = await connectHttp(srv.url);
      track({ close: () => c.close() });
      return { srv, c };
    };
    const one = await spawn();
    const two = await spawn();
    const a = pendingOf(await call(one.c, 'redeem_points', args(500)));
    // The other replica knows the same approval (the ledger is shared).
    expect(pendingOf(await call(two.c, 'redeem_points', args(500))).id).toBe(a.id);
    const op = new Operator(two.srv.url.replace(/\/mcp$/, '/console'));
    await op.login(OP_TOKEN);
    expect((await op.decide(a.id, 'approve')).location).toContain('done=approved');
    const [x, y] = await Promise.all([
      call(one.c, 'redeem_points', args(500)),
      call(two.c, 'redeem_points', args(500)),
    ]);
    expect(x.isError || y.isError).toBeFalsy();
    expect(fake.count('POST', REDEEM)).toBe(1);
  });
});
