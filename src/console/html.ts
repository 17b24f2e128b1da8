// Server-rendered HTML for the approval page and the operator console: every value escaped and
// passed through the server's secret redactor first, plain forms (POST, then a redirect), no
// script. Pages are functions of data; server.ts gathers it and answers.

/** Text made safe for HTML (content and double-quoted attributes). */
export const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Marks a string as HTML already built from escaped parts. */
export class Html {
  constructor(readonly s: string) {}
  toString(): string {
    return this.s;
  }
}

/** A template whose interpolated values are escaped (and redacted), unless they are Html. */
export function htmlWith(clean: (s: string) => string) {
  const one = (v: unknown): string =>
    v instanceof Html
      ? v.s
      : Array.isArray(v)
        ? v.map(one).join('')
        : v === undefined || v === null || v === false
          ? ''
          : escapeHtml(clean(String(v)));
  return (strings: TemplateStringsArray, ...values: unknown[]): Html =>
    new Html(strings.reduce((acc, s, i) => acc + s + (i < values.length ? one(values[i]) : ''), ''));
}

const STYLE = `
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
header{background:#14324a;color:#fff;padding:.7rem 1.2rem;display:flex;gap:1.2rem;align-items:center}
header a{color:#fff}header .who{margin-left:auto;opacity:.85}
header form{display:inline}header button{background:none;border:1px solid #fff8;color:#fff;border-radius:4px;padding:.2rem .6rem;cursor:pointer}
main{max-width:60rem;margin:1.2rem auto;padding:0 1.2rem}
h1{font-size:1.35rem}h2{font-size:1.1rem;margin-top:1.8rem}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #d5d9de;padding:.35rem .55rem;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}
.facts th{width:14rem}
.card{background:#fff;border:1px solid #d5d9de;border-radius:6px;padding:1rem 1.2rem;margin:1rem 0}
.status{display:inline-block;border-radius:4px;padding:.1rem .5rem;font-weight:600}
.pending{background:#fff4cc}.approved{background:#d9f2dd}.declined,.expired{background:#f7dada}
.notice{background:#e4f0fb;border:1px solid #9cc3e6;padding:.6rem .9rem;border-radius:6px}
.error{background:#f7dada;border:1px solid #e0a0a0;padding:.6rem .9rem;border-radius:6px}
.actions{display:flex;gap:1rem;margin-top:1rem}
button.approve{background:#1f7a35;color:#fff;border:0;border-radius:5px;padding:.55rem 1.3rem;font-size:1rem;cursor:pointer}
button.decline{background:#a32020;color:#fff;border:0;border-radius:5px;padding:.55rem 1.3rem;font-size:1rem;cursor:pointer}
input[type=text],input[type=password],select{padding:.3rem .4rem;font-size:.95rem}
code{background:#eef1f4;padding:0 .25rem;border-radius:3px}
.muted{color:#5b6570}`;

/** The page around the content: header with navigation and sign-out when signed in. */
export function page(
  h: ReturnType<typeof htmlWith>,
  base: string,
  title: string,
  body: Html,
  who?: { name: string; csrf: string },
): string {
  const nav = who
    ? h`<a href="${base}/">Console</a><a href="${base}/audit">Audit trail</a>
<span class="who">signed in as ${who.name}</span>
<form method="post" action="${base}/logout"><input type="hidden" name="csrf" value="${who.csrf}"><button type="submit">Sign out</button></form>`
    : h``;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${escapeHtml(title)} · capillary-loyalty-mcp</title><style>${STYLE}</style></head>
<body><header><strong>capillary-loyalty-mcp</strong>${nav.s}</header><main>${body.s}</main></body></html>`;
}
