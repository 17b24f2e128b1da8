import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, describe, expect, it } from 'vitest';
import { ledgerFiles } from '../../src/safety/ledger.js';
import { CANARY, liveEnv, Sweep } from '../fixtures/canary.js';
import { spawnSandbox, tempDir } from '../fixtures/cli.js';
import { type Connected, connectStdio } from '../fixtures/clients.js';
import { jsonl } from '../fixtures/data-dir.js';
import { basicHeader, CapillaryModel, FakeCapillary, type Handler } from '../fixtures/fake-capillary.js';
import { closeAfterEach, sleep, within } from '../fixtures/lifecycle.js';
import { SANDBOX_CREDENTIALS_ENV } from '../fixtures/sandbox.js';
import { LOOP_TIMEOUT_MS, SCALE, writeFigures } from './support.js';

/**
 * kill -9 at every point of a redemption, then restart on the same data dir: the identical call
 * never spends twice (a deduplicating fake counts real spends by external_reference_number), and
 * the ledger, the audit log and the sandbox's state file stay readable.
 */

const REDEEM = '/v1.1/points/redeem';
// Retained: OAuth tokens issued by the fake are added as secrets at the end of each scenario.
const sweep = new Sweep({ retain: true });
const figures = {
  crashes: 0,
  restarts: 0,
  toolCalls: 0,
  doubleSpends: 0,
  tornLines: 0,
  sandboxKills: 0,
  serverKills: 0,
};
const track = closeAfterEach();
afterAll(() => {
  const leaks = sweep.check();
  writeFigures({ suite: 'crash', ...figures, leaks: leaks.length, scanned: sweep.scannedItems });
  expect(leaks).toEqual([]);
});

/** Each tag its own operation: repeats are recognised by meaning (customer, points), not notes. */
const tagPoints = new Map<string, number>();
const pointsOf = (tag: string) => {
  if (!tagPoints.has(tag)) tagPoints.set(tag, 25 + tagPoints.size);
  return tagPoints.get(tag)!;
};
const redeem = (tag: string, points = pointsOf(tag)) => ({
  customer: { mobile: '919000000001' },
  points,
  notes: tag,
});

async function start(
  env: Record<string, string>,
  opts?: Parameters<typeof connectStdio>[1],
): Promise<Connected> {
  const m = await within(connectStdio(env, opts), 15_000, 'server start');
  figures.restarts++;
  track({
    close: async () => {
      await m.close().catch(() => {});
      sweep.add('stderr', m.stderr());
    },
  });
  return m;
}

async function kill(m: Connected): Promise<void> {
  figures.crashes++;
  figures.serverKills++;
  try {
    process.kill(m.pid!, 'SIGKILL');
  } catch {}
  // Wait until the process is really gone.
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(m.pid!, 0);
      await sleep(5);
    } catch {
      break;
    }
  }
  sweep.add('stderr', m.stderr());
  await m.close().catch(() => {});
}

async function call(m: Connected, name: string, args: Record<string, unknown>): Promise<any> {
  figures.toolCalls++;
  const r: any = await within(m.client.callTool({ name, arguments: args }), 20_000, name);
  sweep.add(`${name} result`, r);
  return r;
}

async function fakeWith(handler: (cap: CapillaryModel) => Handler, oauth = false) {
  const cap = new CapillaryModel(
    oauth
      ? { oauth: { key: CANARY.oauthKey, secret: CANARY.oauthSecret, tokenPrefix: CANARY.tokenPrefix } }
      : { basic: basicHeader(CANARY.user, CANARY.password) },
  );
  const fake = track(await new FakeCapillary(handler(cap)).start());
  return { cap, fake };
}

function expectReadable(dataDir: string, crashes: number): any[] {
  // Every segment of the ledger, in read order.
  const ledger = ledgerFiles(dataDir)
    .map(jsonl)
    .reduce((a, b) => ({ entries: [...a.entries, ...b.entries], unreadable: a.unreadable + b.unreadable }), {
      entries: [] as any[],
      unreadable: 0,
    });
  const audit = jsonl(join(dataDir, 'audit.jsonl'));
  figures.tornLines += ledger.unreadable + audit.unreadable;
  // A crash can cut at most the one line being written; every other line reads back.
  expect(ledger.unreadable).toBeLessThanOrEqual(crashes);
  expect(audit.unreadable).toBeLessThanOrEqual(crashes);
  sweep.addDir('data dir', dataDir);
  return ledger.entries;
}

const oauthEnv = (url: string) => {
  const {
    CAPILLARY_USERNAME: _u,
    CAPILLARY_PASSWORD: _p,
    ...rest
  } = liveEnv(url, { CAPILLARY_TIMEOUT_MS: '5000' });
  return {
    ...rest,
    CAPILLARY_OAUTH_CLIENT_KEY: CANARY.oauthKey,
    CAPILLARY_OAUTH_CLIENT_SECRET: CANARY.oauthSecret,
  };
};

describe('kill -9 at each point of a redemption, restart, repeat', () => {
  it('while asking the human to confirm (nothing recorded, nothing sent)', async () => {
    const { cap, fake } = await fakeWith((c) => c.handle);
    const env = liveEnv(fake.url, { CAPILLARY_APPROVAL: 'elicit', CAPILLARY_CONFIRM_ABOVE_POINTS: '10' });
    const m1 = await start(env, { capabilities: { elicitation: {} } });
    m1.client.setRequestHandler(ElicitRequestSchema, async () => {
      process.kill(m1.pid!, 'SIGKILL');
      return new Promise(() => {});
    });
    await call(m1, 'redeem_points', redeem('confirm')).catch(() => undefined);
    await kill(m1);
    expect(fake.count('POST', REDEEM)).toBe(0);
    const m2 = await start(env, { capabilities: { elicitation: {} } });
    m2.client.setRequestHandler(ElicitRequestSchema, async () => ({
      action: 'accept',
      content: { confirm: true },
    }));
    const r = await call(m2, 'redeem_points', redeem('confirm'));
    expect(r.isError, JSON.stringify(r.structuredContent)).toBeFalsy();
    expect(cap.spends.length).toBe(1);
    // The human's yes is a ledger line of its own; the attempt is pending, then succeeded.
    const lines = expectReadable(env.CAPILLARY_DATA_DIR, 1);
    expect(lines.filter((e) => e.kind === 'answer').map((e) => e.answer)).toEqual(['accept']);
    expect(lines.filter((e) => !e.kind).map((e) => e.status)).toEqual(['pending', 'succeeded']);
  });

  it('before anything is written: the OAuth token fetch for the customer look-up hangs', async () => {
    const { cap, fake } = await fakeWith(
      (c) => (req, n) =>
        req.path.endsWith('/token/generate') && n === 1 ? { fault: 'hang' } : c.handle(req, n),
      true,
    );
    const env = oauthEnv(fake.url);
    const m1 = await start(env);
    const p = call(m1, 'redeem_points', redeem('pre-send')).catch(() => undefined);
    await fake.waitFor((r) => r.path.endsWith('/token/generate'));
    await kill(m1);
    await p;
    // The customer is resolved before the ledger is touched: nothing written, nothing sent.
    expect(fake.count('POST', REDEEM)).toBe(0);
    expect(expectReadable(env.CAPILLARY_DATA_DIR, 0)).toEqual([]);
    const m2 = await start(env);
    const r = await call(m2, 'redeem_points', redeem('pre-send'));
    expect(r.isError, JSON.stringify(r.structuredContent)).toBeFalsy();
    expect(cap.spends.length).toBe(1);
    expect(expectReadable(env.CAPILLARY_DATA_DIR, 1).map((e) => e.status)).toEqual(['pending', 'succeeded']);
  });

  it('after the request reached the API (it hangs there; the spend happened)', async () => {
    const { cap, fake } = await fakeWith((c) => (req, n) => {
      const a = c.handle(req, n);
      return req.path === REDEEM && n === 1 ? { fault: 'hang' } : a;
    });
    const env = liveEnv(fake.url, { CAPILLARY_TIMEOUT_MS: '5000' });
    const m1 = await start(env);
    const p = call(m1, 'redeem_points', redeem('in-flight')).catch(() => undefined);
    await fake.waitFor((r) => r.path === REDEEM);
    await kill(m1);
    await p;
    const m2 = await start(env);
    const r = await call(m2, 'redeem_points', redeem('in-flight'));
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent.note).toMatch(/unknown outcome/);
    expect(cap.spends.length).toBe(1);
    expect(fake.count('POST', REDEEM)).toBe(2);
    expect(expectReadable(env.CAPILLARY_DATA_DIR, 1).map((e) => e.status)).toEqual([
      'pending',
      'pending',
      'succeeded',
    ]);
  });

  it(
    'just after the API answered (while the ledger records it)',
    async () => {
      for (let i = 0; i < 5 * SCALE; i++) {
        const { cap, fake } = await fakeWith((c) => c.handle);
        const env = liveEnv(fake.url);
        const m1 = await start(env);
        const killed = new Promise<void>((resolve) => fake.once('responded', () => kill(m1).then(resolve)));
        await call(m1, 'redeem_points', redeem(`answered-${i}`)).catch(() => undefined);
        await killed;
        const m2 = await start(env);
        const r = await call(m2, 'redeem_points', redeem(`answered-${i}`));
        expect(r.isError, JSON.stringify(r.structuredContent)).toBeFalsy();
        expect(cap.spends.length).toBe(1);
        expectReadable(env.CAPILLARY_DATA_DIR, 1);
        await m2.close();
      }
    },
    LOOP_TIMEOUT_MS,
  );

  it('after the call completed: the repeat is replayed from the ledger, nothing sent', async () => {
    const { cap, fake } = await fakeWith((c) => c.handle);
    const env = liveEnv(fake.url);
    const m1 = await start(env);
    const r1 = await call(m1, 'redeem_points', redeem('done'));
    await kill(m1);
    const m2 = await start(env);
    const r2 = await call(m2, 'redeem_points', redeem('done'));
    expect(r2.structuredContent).toMatchObject({
      replayed: true,
      redemption_id: r1.structuredContent.redemption_id,
    });
    expect(fake.count('POST', REDEEM)).toBe(1);
    expect(cap.spends.length).toBe(1);
  });
});

describe('kill -9 at random moments, many times, one data dir', () => {
  it(
    `${40 * SCALE} crashes at random points of a redemption: never a second spend, the ledger stays readable`,
    async () => {
      const { cap, fake } = await fakeWith((c) => c.handle);
      const env = liveEnv(fake.url);
      const runs = 40 * SCALE;
      const deadline = Date.now() + 90_000 * SCALE;
      let m = await start(env);
      for (let i = 0; i < runs && Date.now() < deadline; i++) {
        const tag = `rnd-${i}`;
        // Half the kills count from the call (before the request can leave), half from the
        // request's arrival (the answer, the ledger's fsync, the audit write, the reply).
        const fromArrival = i % 2 === 1;
        const delay = Math.random() * (fromArrival ? 8 : 30);
        const victim = m;
        const killed = (
          fromArrival
            ? fake.waitFor((r) => r.path === REDEEM && r.body.includes(tag), 5_000).then(() => sleep(delay))
            : sleep(delay)
        ).then(
          () => kill(victim),
          () => kill(victim),
        );
        await call(victim, 'redeem_points', redeem(tag)).catch(() => undefined);
        await killed;
        m = await start(env);
        const r = await call(m, 'redeem_points', redeem(tag));
        expect(r.isError, `${tag}: ${JSON.stringify(r.structuredContent)}`).toBeFalsy();
        const n = cap.spends.filter((s) => s.notes === tag).length;
        if (n > 1) figures.doubleSpends++;
        expect(n, `${tag}: real spends`).toBe(1);
      }
      await m.close();
      expectReadable(env.CAPILLARY_DATA_DIR, runs);
      expect(cap.doubleSpends()).toBe(0);
    },
    LOOP_TIMEOUT_MS,
  );
});

describe('a ledger line torn by a crash mid-write', () => {
  // The kernel rarely tears a small append on SIGKILL, but power loss or a full disk does:
  // simulate it by cutting the file inside its last line. The next writes must not be glued to
  // the torn fragment, or they are lost on the following restart and a repeat spends again.
  it(
    'is skipped with a warning, and the records written after it survive the next crash',
    async () => {
      const cuts = [1, 17, 60, 120, -2];
      for (const cut of cuts) {
        let hung = false;
        const { cap, fake } = await fakeWith((c) => (req, n) => {
          const a = c.handle(req, n);
          if (req.path !== REDEEM || !req.body.includes('"notes":"after-torn"') || hung) return a;
          hung = true;
          return { fault: 'hang' };
        });
        const env = liveEnv(fake.url, { CAPILLARY_TIMEOUT_MS: '5000' });
        // A first, completed redemption, then its ledger cut inside the last line.
        const m0 = await start(env);
        expect((await call(m0, 'redeem_points', redeem('before-torn'))).isError).toBeFalsy();
        await m0.close();
        // The newest segment holds the last line written.
        const path = ledgerFiles(env.CAPILLARY_DATA_DIR).at(-1)!;
        const text = readFileSync(path, 'utf8');
        const lastStart = text.lastIndexOf('\n', text.length - 2) + 1;
        const at = cut > 0 ? Math.min(lastStart + cut, text.length - 2) : text.length + cut;
        writeFileSync(path, text.slice(0, at));
        figures.crashes++;
        // Restart: the torn line is skipped (with a warning). Where it was the first redemption's
        // outcome, that attempt reads back as unknown and blocks the customer until its identical
        // repeat settles it (the same key: Capillary answers the original, nothing is spent again).
        const m1 = await start(env);
        const again = await call(m1, 'redeem_points', redeem('before-torn'));
        expect(again.isError, JSON.stringify(again.structuredContent)).toBeFalsy();
        expect(cap.spends.filter((s) => s.notes === 'before-torn').length).toBe(1);
        // A new redemption is in flight when it crashes.
        const p = call(m1, 'redeem_points', redeem('after-torn')).catch(() => undefined);
        await fake.waitFor((r) => r.path === REDEEM && r.body.includes('after-torn'));
        await kill(m1);
        await p;
        expect(m1.stderr()).toMatch(/unreadable line/);
        // Restart again: the in-flight redemption must be known (unknown outcome), so the repeat
        // re-sends its key instead of minting a new one.
        const m2 = await start(env);
        const r = await call(m2, 'redeem_points', redeem('after-torn'));
        expect(r.isError, JSON.stringify(r.structuredContent)).toBeFalsy();
        const spends = cap.spends.filter((s) => s.notes === 'after-torn');
        if (spends.length > 1) figures.doubleSpends++;
        expect(spends.length, `cut at ${cut}: real spends`).toBe(1);
        expect(r.structuredContent.note).toMatch(/unknown outcome/);
        const { unreadable } = jsonl(path);
        expect(unreadable).toBe(1);
        figures.tornLines += unreadable;
        await m2.close();
      }
    },
    LOOP_TIMEOUT_MS,
  );
});

describe('the sandbox as upstream, both processes killed at random', () => {
  it(
    `${12 * SCALE} kills of the server or the sandbox: the state file reloads, balances moved once per operation`,
    async () => {
      const stateFile = join(tempDir('sbx-'), 'state.json');
      let sb = await spawnSandbox({ state: stateFile });
      const port = new URL(sb.url).port;
      const env = liveEnv(sb.url, { ...SANDBOX_CREDENTIALS_ENV, CAPILLARY_TIMEOUT_MS: '3000' });
      track({ close: () => sb.stop() });
      let m = await start(env);
      const balance = async (mobile: string) => {
        const r = await call(m, 'get_points_balance', {
          identifier_name: 'mobile',
          identifier_value: mobile,
        });
        expect(r.isError, JSON.stringify(r.structuredContent)).toBeFalsy();
        return r.structuredContent.balance as number;
      };
      const start1 = await balance('919000000001');
      let spent = 0;
      const runs = 12 * SCALE;
      for (let i = 0; i < runs; i++) {
        const tag = `sbx-${i}`;
        const points = 1 + i;
        const killSandbox = i % 3 === 2;
        const delay = Math.random() * 12;
        const p = call(m, 'redeem_points', redeem(tag, points)).catch(() => undefined);
        await sleep(delay);
        if (killSandbox) {
          figures.crashes++;
          figures.sandboxKills++;
          await sb.stop();
          await p;
          // Its state file must load again: the sandbox refuses to start on an unreadable one.
          const state = JSON.parse(readFileSync(stateFile, 'utf8'));
          expect(state.format).toBe('capillary-sandbox-state');
          sb = await spawnSandbox({ state: stateFile, port });
        } else {
          await kill(m);
          await p;
          m = await start(env);
        }
        // Repeat until settled (a restarting sandbox may still refuse the first try).
        let r: any;
        for (let t = 0; t < 5; t++) {
          r = await call(m, 'redeem_points', redeem(tag, points));
          if (!r.isError) break;
          await sleep(100);
        }
        expect(r.isError, `${tag}: ${JSON.stringify(r.structuredContent)}`).toBeFalsy();
        spent += points;
      }
      // The lost_response customer: every answer is lost after the write; repeats never spend again.
      const lostBefore = await balance('919000000599');
      for (let t = 0; t < 4; t++) {
        const r = await call(m, 'redeem_points', {
          customer: { mobile: '919000000599' },
          points: 10,
          notes: 'lost',
        });
        expect(r.structuredContent.error?.outcome).toBe('unknown');
      }
      expect(await balance('919000000599')).toBe(lostBefore - 10);
      const end = await balance('919000000001');
      if (Math.round((start1 - end) * 1000) !== Math.round(spent * 1000)) figures.doubleSpends++;
      expect(end).toBe(start1 - spent);
      await m.close();
      expectReadable(env.CAPILLARY_DATA_DIR, runs);
    },
    LOOP_TIMEOUT_MS,
  );
});
