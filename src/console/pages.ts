// The console's pages as functions of their data: sign-in, one approval, the overview
// (pending approvals, unknown outcomes with the settle step, cooldowns, caps used), the audit trail.
import type { Config } from '../config.js';
import type { ApprovalState } from '../safety/approvals.js';
import type { AuditRecord } from '../safety/audit.js';
import type { LedgerEntry } from '../safety/ledger.js';
import { type Html, type htmlWith, page } from './html.js';

export interface View {
  h: ReturnType<typeof htmlWith>;
  /** The console's path on this listener, e.g. /console. */
  base: string;
  who?: { name: string; csrf: string };
}

const iso = (ms: number | undefined) => (ms === undefined ? '' : new Date(ms).toISOString());

/** What a redirect's `done` says: a fixed list, never text from the request. */
export const NOTICES: Record<string, string> = {
  approved: 'Approved. The agent may now repeat the identical call; it is sent exactly once.',
  declined: 'Declined. Nothing is sent; the identical repeat is refused and the customer is in cooldown.',
  answered: 'This approval already has an answer; nothing was changed.',
  expired: 'This approval has expired; nothing was changed. A repeat of the call asks again.',
  settled: 'The attempt is settled.',
  'not-unresolved': 'No unresolved attempt with that key (settled meanwhile?); nothing was changed.',
  lifted: "The customer's cooldown is lifted.",
  'no-cooldown': 'That customer is not in cooldown; nothing was changed.',
  'reason-needed': 'Give a reason; nothing was changed.',
};

const notice = (v: View, done: string | undefined) => {
  const text = done ? NOTICES[done] : undefined;
  return text ? v.h`<p class="notice" role="status">${text}</p>` : v.h``;
};

export function loginPage(v: View, next: string, failed: boolean): string {
  const { h } = v;
  return page(
    h,
    v.base,
    'Sign in',
    h`<h1>Operator sign-in</h1>
<p>Approvals, settlements and cooldowns are given here by an operator, never by the agent.
Sign in with the operator token (<code>CAPILLARY_OPERATOR_TOKEN</code>, or the one
<code>capillary-loyalty-mcp operator-token</code> shows).</p>
${failed ? h`<p class="error" role="alert">That token is not the operator token.</p>` : h``}
<form method="post" action="${v.base}/login" class="card">
<input type="hidden" name="next" value="${next}">
<p><label>Your name (recorded with what you approve)<br><input type="text" name="name" required maxlength="80" autocomplete="username"></label></p>
<p><label>Operator token<br><input type="password" name="token" required autocomplete="current-password"></label></p>
<p><button type="submit" class="approve">Sign in</button></p>
</form>`,
  );
}

const facts = (v: View, r: LedgerEntry) =>
  v.h`<table class="facts">${(r.shown?.facts ?? []).map(([k, val]) => v.h`<tr><th>${k}</th><td>${val}</td></tr>`)}
${(r.shown?.facts ?? []).some(([k]) => k === 'tool') ? v.h`` : v.h`<tr><th>tool</th><td><code>${r.tool}</code></td></tr>`}
<tr><th>customer key (caps and budgets)</th><td><code>${r.customer}</code></td></tr></table>`;

export function approvalPage(v: View, s: ApprovalState, done?: string): string {
  const { h } = v;
  const r = s.request;
  const answered = s.answer
    ? h`<p>${s.status === 'approved' ? 'Approved' : 'Declined'} by ${s.answer.by ?? 'a human (through the client)'} at ${iso(s.answer.at)}.
${s.status === 'approved' ? (s.used ? h` The agent's repeat has used it (key <code>${s.used.key}</code>, ${s.used.status}).` : h` Waiting for the agent's identical repeat.`) : h``}</p>`
    : h``;
  const forms =
    s.status === 'pending'
      ? h`<div class="actions">
<form method="post" action="${v.base}/approvals/${s.handle}"><input type="hidden" name="csrf" value="${v.who?.csrf}"><input type="hidden" name="decision" value="approve"><button type="submit" class="approve">Approve</button></form>
<form method="post" action="${v.base}/approvals/${s.handle}"><input type="hidden" name="csrf" value="${v.who?.csrf}"><input type="hidden" name="decision" value="decline"><button type="submit" class="decline">Decline</button></form>
</div>`
      : h``;
  return page(
    h,
    v.base,
    `Approval ${s.handle}`,
    h`${notice(v, done)}
<h1>${r.shown?.title ?? r.tool}: approve or decline</h1>
<div class="card">
<p><span class="status ${s.status}">${s.status}</span> <span class="muted">approval <code>${s.handle}</code>, asked at ${iso(r.at)}, takes an answer until ${iso(r.expires)}</span></p>
<p><strong>${r.shown?.summary ?? ''}</strong></p>
${facts(v, r)}
<p><strong>Why you are asked:</strong> ${r.shown?.why ?? ''}</p>
${answered}
${forms}
</div>
<p class="muted">Approving lets the agent's identical repeat of this call through once; it never covers another call.
Declining refuses it, and every money call for this customer needs a yes for the cooldown.</p>`,
    v.who,
  );
}

export interface Overview {
  pending: ApprovalState[];
  unresolved: LedgerEntry[];
  cooldowns: Array<{ declined: LedgerEntry; until: number }>;
  caps: Array<{ customer: string; spent: number; moved: number }>;
  total: number;
  config: Pick<
    Config,
    'maxPointsPerCustomerPerDay' | 'maxPointsPerServerPerDay' | 'confirmAbovePoints' | 'confirmWindowMs'
  >;
}

const csrf = (v: View) => v.h`<input type="hidden" name="csrf" value="${v.who?.csrf}">`;

export function overviewPage(v: View, o: Overview, done?: string): string {
  const { h } = v;
  const c = o.config;
  const pending = o.pending.length
    ? h`<table><tr><th>Approval</th><th>What</th><th>Asked</th><th>Expires</th></tr>
${o.pending.map((s) => h`<tr><td><a href="${v.base}/approvals/${s.handle}">${s.handle}</a></td><td>${s.request.shown?.summary ?? s.request.tool}</td><td>${iso(s.request.at)}</td><td>${iso(s.request.expires)}</td></tr>`)}</table>`
    : h`<p class="muted">None.</p>`;
  const unresolved = o.unresolved.length
    ? h`<p>Check the customer's balance or Capillary's records first. <em>Applied</em>: the points moved, an identical repeat is replayed. <em>Not applied</em>: nothing moved, the customer is unblocked.</p>
<table><tr><th>Key</th><th>Tool</th><th>Customer</th><th>Points</th><th>First sent</th><th>Last sent</th><th>Settle</th></tr>
${o.unresolved.map(
  (
    e,
  ) => h`<tr><td><code>${e.key}</code></td><td>${e.tool}</td><td><code>${e.customer}</code></td><td>${e.points}</td><td>${iso(e.first_at ?? e.at)}</td><td>${iso(e.at)}</td>
<td><form method="post" action="${v.base}/settle">${csrf(v)}<input type="hidden" name="key" value="${e.key}">
<select name="as" aria-label="outcome"><option value="applied">applied</option><option value="not-applied">not applied</option></select>
<input type="text" name="reason" placeholder="reason (required)" required maxlength="200" aria-label="reason">
<button type="submit">Settle</button></form></td></tr>`,
)}</table>`
    : h`<p class="muted">None: no attempt's outcome is unknown.</p>`;
  const cooldowns = o.cooldowns.length
    ? h`<table><tr><th>Customer</th><th>Said no to</th><th>By</th><th>At</th><th>Until</th><th>Lift</th></tr>
${o.cooldowns.map(
  ({
    declined: d,
    until,
  }) => h`<tr><td><code>${d.customer}</code></td><td>${d.tool} of ${d.moved ?? ''} points</td><td>${d.by ?? 'a human (through the client)'}</td><td>${iso(d.at)}</td><td>${iso(until)}</td>
<td><form method="post" action="${v.base}/lift">${csrf(v)}<input type="hidden" name="customer" value="${d.customer}">
<input type="text" name="reason" placeholder="reason (required)" required maxlength="200" aria-label="reason"><button type="submit">Lift cooldown</button></form></td></tr>`,
)}</table>`
    : h`<p class="muted">None.</p>`;
  const caps = o.caps.length
    ? h`<table><tr><th>Customer</th><th>Points counted, 24 h${c.maxPointsPerCustomerPerDay === undefined ? '' : ` (cap ${c.maxPointsPerCustomerPerDay})`}</th><th>Points moved, confirmation window${c.confirmAbovePoints === undefined ? '' : ` (yes needed above ${c.confirmAbovePoints})`}</th></tr>
${o.caps.map((x) => h`<tr><td><code>${x.customer}</code></td><td>${x.spent}</td><td>${x.moved}</td></tr>`)}</table>`
    : h`<p class="muted">No money calls in the last 24 h.</p>`;
  return page(
    h,
    v.base,
    'Operator console',
    h`${notice(v, done)}<h1>Operator console</h1>
<h2>Approvals waiting for a human (${o.pending.length})</h2>${pending}
<h2>Attempts whose outcome is unknown (${o.unresolved.length})</h2>${unresolved}
<h2>Customers in cooldown after a "no" (${o.cooldowns.length})</h2>${cooldowns}
<h2>Caps used per customer</h2>
<p>All customers, 24 h: ${o.total} points${c.maxPointsPerServerPerDay === undefined ? '' : ` of the ${c.maxPointsPerServerPerDay}-point server cap`}.</p>${caps}
<p><a href="${v.base}/audit">Recent audit trail</a></p>`,
    v.who,
  );
}

export interface AuditView {
  records: AuditRecord[];
  filters: { tool: string; outcome: string; q: string };
  page: number;
  more: boolean;
  total: number;
}

export function auditPage(v: View, a: AuditView): string {
  const { h } = v;
  const f = a.filters;
  const link = (p: number) =>
    `${v.base}/audit?${new URLSearchParams({ tool: f.tool, outcome: f.outcome, q: f.q, page: String(p) })}`;
  return page(
    h,
    v.base,
    'Audit trail',
    h`<h1>Recent audit trail</h1>
<form method="get" action="${v.base}/audit" class="card">
<label>Tool <input type="text" name="tool" value="${f.tool}" maxlength="60"></label>
<label>Outcome <input type="text" name="outcome" value="${f.outcome}" maxlength="40"></label>
<label>Contains <input type="text" name="q" value="${f.q}" maxlength="100"></label>
<button type="submit">Filter</button></form>
<p class="muted">${a.total} matching record(s), newest first; page ${a.page}.</p>
<table><tr><th>Time</th><th>Tool</th><th>Outcome</th><th>Key</th><th>Code</th><th>Arguments</th><th>By</th></tr>
${a.records.map(
  (r) =>
    h`<tr><td>${r.time}</td><td>${r.tool}</td><td>${r.outcome}</td><td><code>${r.idempotency_key ?? ''}</code></td><td>${r.code ?? ''}</td><td><code>${JSON.stringify(r.arguments ?? {})}</code></td><td>${r.settled_by ?? ''}${r.reason ? `: ${r.reason}` : ''}</td></tr>`,
)}</table>
<p>${a.page > 1 ? h`<a href="${link(a.page - 1)}">Newer</a> ` : h``}${a.more ? h`<a href="${link(a.page + 1)}">Older</a>` : h``}</p>`,
    v.who,
  );
}

export function notFoundPage(v: View): string {
  return page(
    v.h,
    v.base,
    'No such approval',
    v.h`<h1>No such approval</h1><p>There is no approval with that handle (or it is older than a day).</p>
<p><a href="${v.base}/">Back to the console</a></p>`,
    v.who,
  );
}

export type { Html };
