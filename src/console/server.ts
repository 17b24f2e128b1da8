/**
 * Inbound HTTP for humans: the approval page and the operator console, under /console/. Over
 * HTTP on the MCP listener (src/mcp/http/server.ts routes /console/ here, after its Host and
 * Origin checks); in stdio mode on a loopback listener of its own (startConsole).
 *
 * Security model: the operator signs in with the operator token (auth.ts), never the agent's
 * credential; the agent is handed only a link, which carries no credential. Every state change
 * is a POST with the session's CSRF token, from this origin (Origin, else Referer, must match the
 * Host), answered with a redirect (POST-redirect-GET): approve and decline work without script.
 */
import { readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { App } from '../app.js';
import { allowedPeers, checkHostOrigin } from '../mcp/http/guard.js';
import { answerApproval, approvalByHandle, approvals, cooldowns, liftCooldown } from '../safety/approvals.js';
import type { AuditRecord } from '../safety/audit.js';
import { DAY_MS } from '../safety/caps.js';
import { PROCESS_OWNER } from '../safety/dir-lock.js';
import { settleByHand } from '../safety/settle.js';
import { COOKIE, OperatorAuth, operatorToken, SESSION_MS, type Session } from './auth.js';
import { htmlWith } from './html.js';
import { approvalPage, auditPage, loginPage, notFoundPage, overviewPage, type View } from './pages.js';

/** The path the console lives under, on either listener. */
export const CONSOLE_PATH = '/console';
const MAX_FORM_BYTES = 16 * 1024;
const AUDIT_PAGE = 50;
/** How much of the audit log's end the trail reads. */
const AUDIT_TAIL_BYTES = 4 * 1024 * 1024;

const HEADERS = {
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

export interface Console {
  /** Answers one request under /console. */
  handle(req: IncomingMessage, res: ServerResponse): void;
}

/** The console over an app: the operator token is the configured one or the data dir's. */
export function createConsole(app: App): Console {
  // Read (or generated) at the first request, so a server whose console nobody opens writes nothing.
  let auth_: OperatorAuth | undefined;
  const authOf = () => {
    if (!auth_) {
      const token = operatorToken(app.config.operatorToken, app.config.dataDir);
      app.redactor.add(token);
      if (token.length < 16)
        app.log.warn('CAPILLARY_OPERATOR_TOKEN is shorter than 16 characters; use a long random token');
      auth_ = new OperatorAuth(token);
    }
    return auth_;
  };
  const secure = app.config.consoleUrl?.startsWith('https:') ? '; Secure' : '';
  const h = htmlWith((s) => app.redactor.text(s));
  const base = CONSOLE_PATH;
  const c = app.config;

  const send = (res: ServerResponse, status: number, body: string, extra: Record<string, string> = {}) => {
    res.writeHead(status, {
      ...HEADERS,
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      ...extra,
    });
    res.end(body);
  };
  const redirect = (res: ServerResponse, to: string, extra: Record<string, string> = {}) => {
    res.writeHead(303, { ...HEADERS, location: to, 'content-length': 0, ...extra });
    res.end();
  };
  const plain = (res: ServerResponse, status: number, text: string) => {
    res.writeHead(status, { ...HEADERS, 'content-type': 'text/plain; charset=utf-8' });
    res.end(text);
  };

  /** A POST from this origin: Origin (else Referer) present and naming the Host. */
  const sameOrigin = (req: IncomingMessage) => {
    const from = req.headers.origin ?? req.headers.referer;
    if (typeof from !== 'string' || !req.headers.host) return false;
    try {
      const u = new URL(from);
      return (
        u.host === req.headers.host.toLowerCase() ||
        (!!c.consoleUrl && u.origin === new URL(c.consoleUrl).origin)
      );
    } catch {
      return false;
    }
  };

  const readForm = (req: IncomingMessage): Promise<URLSearchParams | undefined> =>
    new Promise((resolve) => {
      if (!/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? ''))
        return resolve(undefined);
      let size = 0;
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => {
        size += d.length;
        if (size > MAX_FORM_BYTES) {
          resolve(undefined);
          req.destroy();
        } else chunks.push(d);
      });
      req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
      req.on('error', () => resolve(undefined));
    });

  /** A path under the console, to come back to after signing in (nothing else: no open redirect). */
  const safeNext = (n: string | null | undefined) =>
    n && /^\/console(\/[A-Za-z0-9_\-/]*)?(\?[A-Za-z0-9_=&%.+-]*)?$/.test(n) ? n : `${base}/`;

  const view = (who?: Session): View => ({ h, base, ...(who ? { who } : {}) });

  const overview = async (who: Session, done?: string) => {
    const now = Date.now();
    const since = now - Math.max(DAY_MS, c.confirmCooldownMs, c.confirmWindowMs, c.approvalTtlMs);
    const [recent, unresolved, all] = await Promise.all([
      app.store.recent(since),
      app.store.unresolvedAll(),
      approvals(app.store, now - c.approvalTtlMs, now),
    ]);
    const per = new Map<string, { customer: string; spent: number; moved: number }>();
    let total = 0;
    for (const e of recent) {
      if (e.kind !== undefined || e.status === 'failed') continue;
      const row = per.get(e.customer) ?? { customer: e.customer, spent: 0, moved: 0 };
      if (e.at >= now - DAY_MS) {
        row.spent += e.points;
        total += e.points;
      }
      if (e.at >= now - c.confirmWindowMs && typeof (e.moved ?? e.points) === 'number')
        row.moved += (e.moved ?? e.points) as number;
      per.set(e.customer, row);
    }
    return overviewPage(
      view(who),
      {
        pending: all.filter((s) => s.status === 'pending'),
        unresolved,
        cooldowns: cooldowns(recent, c.confirmCooldownMs, now).map((d) => ({
          declined: d,
          until: d.at + c.confirmCooldownMs,
        })),
        caps: [...per.values()].sort((a, b) => b.spent - a.spent),
        total,
        config: c,
      },
      done,
    );
  };

  const audit = (who: Session, q: URLSearchParams) => {
    const filters = {
      tool: (q.get('tool') ?? '').slice(0, 60),
      outcome: (q.get('outcome') ?? '').slice(0, 40),
      q: (q.get('q') ?? '').slice(0, 100),
    };
    const pageNo = Math.max(1, Math.min(10_000, Number.parseInt(q.get('page') ?? '1', 10) || 1));
    const lines = tail(c.auditLog);
    const matching: AuditRecord[] = [];
    for (let i = lines.length - 1; i >= 0; i--) {
      const line = lines[i];
      if (filters.q && !line.includes(filters.q)) continue;
      let r: AuditRecord;
      try {
        r = JSON.parse(line);
      } catch {
        continue;
      }
      if (filters.tool && r.tool !== filters.tool) continue;
      if (filters.outcome && r.outcome !== filters.outcome) continue;
      matching.push(r);
    }
    const from = (pageNo - 1) * AUDIT_PAGE;
    return auditPage(view(who), {
      records: matching.slice(from, from + AUDIT_PAGE),
      filters,
      page: pageNo,
      more: matching.length > from + AUDIT_PAGE,
      total: matching.length,
    });
  };

  const record = (r: Omit<AuditRecord, 'time' | 'duration_ms' | 'environment'>) =>
    app.audit
      .write({ ...r, time: new Date().toISOString(), duration_ms: 0, environment: c.environment })
      .catch((e) => app.log.error('audit log write failed', { error: String(e) }));

  const route = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://console.invalid');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const rest = path === base ? '' : path.slice(base.length);
    const get = req.method === 'GET' || req.method === 'HEAD';
    if (!get && req.method !== 'POST') return plain(res, 405, 'Method Not Allowed');
    if (!get && !sameOrigin(req)) return plain(res, 403, 'Forbidden: cross-origin form');
    const auth = authOf();
    const cookieName = `${COOKIE}_${auth.tag}`;
    const who = auth.session(req.headers.cookie, cookieName);

    if (rest === '/login') {
      if (get) return send(res, 200, loginPage(view(), safeNext(url.searchParams.get('next')), false));
      const f = await readForm(req);
      const next = safeNext(f?.get('next'));
      const name = (f?.get('name') ?? '').trim().slice(0, 80);
      if (!f || !name || !auth.checkToken(f.get('token') ?? undefined)) {
        app.log.warn('console: a sign-in with a wrong operator token was refused');
        return send(res, 401, loginPage(view(), next, true));
      }
      return redirect(res, next, {
        'set-cookie': `${cookieName}=${auth.issue(name)}; Path=${base}; HttpOnly; SameSite=Strict; Max-Age=${SESSION_MS / 1000}${secure}`,
      });
    }
    if (!who) {
      if (get) return redirect(res, `${base}/login?${new URLSearchParams({ next: safeNext(url.pathname) })}`);
      return plain(res, 401, 'Unauthorized: sign in as an operator first');
    }
    let form: URLSearchParams | undefined;
    if (!get) {
      form = await readForm(req);
      if (!form || !auth.checkCsrf(who, form.get('csrf') ?? undefined))
        return plain(res, 403, 'Forbidden: missing or invalid CSRF token');
    }
    const done = url.searchParams.get('done') ?? undefined;

    if (rest === '/logout' && form)
      return redirect(res, `${base}/login`, {
        'set-cookie': `${cookieName}=; Path=${base}; HttpOnly; SameSite=Strict; Max-Age=0${secure}`,
      });
    if (rest === '' || rest === '/') {
      if (!get) return plain(res, 405, 'Method Not Allowed');
      return send(res, 200, await overview(who, done));
    }
    if (rest === '/audit' && get) return send(res, 200, audit(who, url.searchParams));
    const m = /^\/approvals\/([^/]+)$/.exec(rest);
    if (m) {
      const now = Date.now();
      const s = await approvalByHandle(app.store, m[1], now - Math.max(DAY_MS, c.approvalTtlMs), now);
      if (!s) return send(res, 404, notFoundPage(view(who)));
      if (get) return send(res, 200, approvalPage(view(who), s, done));
      const decision = form!.get('decision');
      if (decision !== 'approve' && decision !== 'decline') return plain(res, 400, 'Bad Request: decision');
      const refused = await answerApproval(
        app.store,
        s,
        decision === 'approve' ? 'accept' : 'decline',
        who.name,
        now,
      );
      if (!refused) {
        app.log.info(`console: approval ${s.handle} ${decision}d by ${who.name}`);
        await record({
          tool: s.request.tool,
          arguments: { customer: s.request.customer, moved: s.request.moved, approval: s.handle },
          outcome: decision === 'approve' ? 'approved' : 'declined',
          settled_by: who.name,
        });
      }
      return redirect(res, `${base}/approvals/${s.handle}?done=${refused ?? `${decision}d`}`);
    }
    if (rest === '/settle' && form) {
      const reason = (form.get('reason') ?? '').trim().slice(0, 200);
      const as = form.get('as');
      if (!reason || (as !== 'applied' && as !== 'not-applied'))
        return redirect(res, `${base}/?done=reason-needed`);
      const settled = await settleByHand(app.store, (r) => app.audit.write(r), {
        key: form.get('key') ?? '',
        as,
        by: who.name,
        reason,
        environment: c.environment,
      });
      return redirect(res, `${base}/?done=${settled ? 'settled' : 'not-unresolved'}`);
    }
    if (rest === '/lift' && form) {
      const reason = (form.get('reason') ?? '').trim().slice(0, 200);
      if (!reason) return redirect(res, `${base}/?done=reason-needed`);
      const now = Date.now();
      const declined = cooldowns(
        await app.store.recent(now - c.confirmCooldownMs),
        c.confirmCooldownMs,
        now,
      ).find((d) => d.customer === form.get('customer'));
      if (!declined) return redirect(res, `${base}/?done=no-cooldown`);
      await liftCooldown(app.store, declined, `${who.name}: ${reason}`, PROCESS_OWNER, now);
      await record({
        tool: declined.tool,
        arguments: { customer: declined.customer },
        outcome: 'cooldown_lifted',
        settled_by: who.name,
        reason,
      });
      return redirect(res, `${base}/?done=lifted`);
    }
    return plain(res, 404, 'Not Found');
  };

  return {
    handle(req, res) {
      route(req, res).catch((e) => {
        app.log.error('console: request failed', { error: String(e) });
        if (!res.headersSent) plain(res, 500, 'The console could not answer (see the server log).');
        else res.destroy();
      });
    },
  };
}

/** The audit log's last lines (its last few MiB). */
function tail(path: string): string[] {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return [];
  }
  const buf = readFileSync(path);
  const text = buf.subarray(Math.max(0, size - AUDIT_TAIL_BYTES)).toString('utf8');
  const lines = text.split('\n').filter(Boolean);
  // A cut first line is not a record.
  if (size > AUDIT_TAIL_BYTES) lines.shift();
  return lines;
}

/**
 * stdio mode: the console on a loopback listener of its own (CAPILLARY_CONSOLE_PORT), its address
 * on stderr and in app.console (links in pending results). Undefined when it is off or cannot
 * listen (the server still runs; approvals then need elicitation).
 */
export async function startConsole(app: App): Promise<{ url: string; close(): Promise<void> } | undefined> {
  const port = app.config.consolePort;
  if (port === 'off') return undefined;
  const con = createConsole(app);
  let allowed = allowedPeers('127.0.0.1', 0, undefined);
  const server = createServer((req, res) => {
    const bad = checkHostOrigin(allowed, req.headers.host, req.headers.origin);
    if (bad) return void res.writeHead(403, HEADERS).end(bad);
    const p = (req.url ?? '/').split('?')[0];
    if (p === CONSOLE_PATH || p.startsWith(`${CONSOLE_PATH}/`)) return con.handle(req, res);
    res.writeHead(303, { ...HEADERS, location: `${CONSOLE_PATH}/` }).end();
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    app.log.warn(
      `operator console: cannot listen on 127.0.0.1:${port} (${(e as Error).message}); approvals need elicitation`,
    );
    return undefined;
  }
  server.unref();
  const bound = (server.address() as AddressInfo).port;
  allowed = allowedPeers('127.0.0.1', bound, undefined);
  const url = app.config.consoleUrl ?? `http://127.0.0.1:${bound}${CONSOLE_PATH}`;
  app.console = { url };
  app.log.info(
    `operator console and approval page at ${url}/ (sign in with the operator token: CAPILLARY_OPERATOR_TOKEN, or \`capillary-loyalty-mcp operator-token\`)`,
  );
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
