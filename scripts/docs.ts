// Generates the parts of the docs that come from the code, so they cannot drift: README.md's
// configuration table and tool summary, docs/tools.md's per-tool reference and docs/http.md's
// HTTP settings. It also checks that every relative link in the docs resolves.
// `npm run docs` rewrites the generated parts and lists broken links; test/readme.test.ts fails
// when a generated part is stale or a link is broken.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENV_VARS } from '../src/config.js';
import { ALL_TOOLS } from '../src/toolkit/all-tools.js';
import { annotationsFor } from '../src/toolkit/define.js';
import { describedOutput, listTool } from '../src/toolkit/listing.js';

type JsonSchema = {
  type?: string | string[];
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  additionalProperties?: unknown;
};

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((e) => `\`${e}\``).join(' \\| ');
  if (s.anyOf) return s.anyOf.map(typeOf).join(' \\| ');
  if (s.type === 'array') return `${s.items ? typeOf(s.items) : 'any'}[]`;
  if (s.type === 'object' && !s.properties)
    return (s.additionalProperties as JsonSchema | undefined)?.type ? 'object (name → value)' : 'object';
  return Array.isArray(s.type) ? s.type.join(' \\| ') : (s.type ?? 'any');
}

function rows(schema: JsonSchema, prefix = '', required = true): string[] {
  const out: string[] = [];
  const req = new Set(schema.required ?? []);
  for (const [name, p] of Object.entries(schema.properties ?? {})) {
    const full = `${prefix}${name}`;
    const cells = [`\`${full}\``, typeOf(p), ...(required ? [req.has(name) ? 'yes' : ''] : [])];
    out.push(`| ${cells.join(' | ')} | ${(p.description ?? '').replace(/\|/g, '\\|')} |`);
    // The error object is the same in every tool: its fields are described once, above the reference.
    if (p.type === 'object' && p.properties && full !== 'error') out.push(...rows(p, `${full}.`, required));
    if (p.type === 'array' && p.items?.properties) out.push(...rows(p.items, `${full}[].`, required));
  }
  return out;
}

/** The annotations a tool's effect gives it, in words. */
function hintsOf(tool: (typeof ALL_TOOLS)[number]): string {
  const a = annotationsFor(tool.effect);
  return [
    a.readOnlyHint ? 'read-only' : 'writes',
    a.destructiveHint ? 'destructive' : 'non-destructive',
    a.idempotentHint ? 'idempotent' : 'not idempotent',
  ].join(', ');
}

/** The heading each tool gets in docs/tools.md. */
const toolHeading = (name: string, title: string) => `\`${name}\`: ${title}`;

/** docs/tools.md: every tool's arguments and Returns tables. */
export function renderTools(): string {
  const parts: string[] = [];
  for (const tool of ALL_TOOLS) {
    const t = listTool(tool);
    parts.push(
      `### ${toolHeading(t.name, t.title ?? t.name)}\n\n${t.description}\n\n*${hintsOf(tool)}*\n\n| argument | type | required | description |\n|---|---|---|---|\n${rows(t.inputSchema as JsonSchema).join('\n')}\n\nReturns:\n\n| field | type | description |\n|---|---|---|\n${rows(describedOutput(tool) as JsonSchema, '', false).join('\n')}\n`,
    );
  }
  return parts.join('\n');
}

/** README.md: one line per tool, linked to its reference in docs/tools.md. */
export function renderToolSummary(): string {
  const lines = ALL_TOOLS.map((tool) => {
    const t = listTool(tool);
    // The first sentence: a sentence ends at a full stop followed by a capital letter.
    const first = (t.description ?? '').split(/(?<=\.)\s+(?=[A-Z])/)[0];
    const anchor = slug(toolHeading(t.name, t.title ?? t.name));
    return `| [\`${t.name}\`](docs/tools.md#${anchor}) | \`${tool.effect}\`: ${hintsOf(tool)} | ${first.replace(/\|/g, '\\|')} |`;
  });
  return `| tool | effect: annotations | what it does |\n|---|---|---|\n${lines.join('\n')}\n`;
}

/** The configuration table, or the rows whose variable passes `only`. */
export function renderConfig(only: (name: string) => boolean = () => true): string {
  return `| variable | meaning | default |\n|---|---|---|\n${ENV_VARS.filter(([n]) => only(n))
    .map(([n, d, def]) => `| \`${n}\` | ${d} | ${def ? `\`${def}\`` : ''} |`)
    .join('\n')}\n`;
}

/** Every generated part: file (from the repository root) → marker tag → its content. */
export const GENERATED: Record<string, Record<string, () => string>> = {
  'README.md': { config: () => renderConfig(), 'tool-summary': renderToolSummary },
  'docs/tools.md': { tools: renderTools },
  'docs/http.md': { 'http-config': () => renderConfig((n) => n.startsWith('MCP_')) },
};

/** Replaces what stands between each `<!-- tag:start -->` and `<!-- tag:end -->` pair. */
export function fillGenerated(text: string, parts: Record<string, () => string>, file = 'the file'): string {
  let out = text;
  for (const [tag, render] of Object.entries(parts)) {
    const re = new RegExp(`(<!-- ${tag}:start -->\\n)[\\s\\S]*?(<!-- ${tag}:end -->)`);
    if (!re.test(out)) throw new Error(`${file} has no ${tag} markers`);
    out = out.replace(re, (_m, start: string, end: string) => `${start}${render()}${end}`);
  }
  return out;
}

// --- Links --------------------------------------------------------------------------------------

/** GitHub's heading anchor: lower case, punctuation dropped (not - and _), each space a hyphen. */
export function slug(heading: string): string {
  const text = heading
    .replace(/`([^`]*)`/g, '$1')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '');
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** The lines of a Markdown file outside fenced code blocks. */
function prose(text: string): string[] {
  const out: string[] = [];
  let fence: string | undefined;
  for (const line of text.split('\n')) {
    const m = /^\s*(`{3,}|~{3,})/.exec(line);
    if (m && (!fence || m[1].startsWith(fence))) {
      fence = fence ? undefined : m[1];
      continue;
    }
    if (!fence) out.push(line);
  }
  return out;
}

/** Every anchor a Markdown file offers: its headings (numbered on repeats, as GitHub does) and `<a id>`s. */
export function anchorsOf(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of prose(text)) {
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (h) {
      const base = slug(h[1]);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      out.add(n ? `${base}-${n}` : base);
    }
    for (const a of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) out.add(a[1]);
  }
  return out;
}

/** The targets of the inline links `[text](target)` in a Markdown file, outside code. */
export function linksOf(text: string): string[] {
  const out: string[] = [];
  for (const line of prose(text)) {
    const bare = line.replace(/`[^`]*`/g, '``');
    for (const m of bare.matchAll(/\[(?:[^\][]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
      out.push(m[1]);
  }
  return out;
}

/** The Markdown files the project owns: README.md, CHANGELOG.md, docs/ and any other .md in the tree. */
export function markdownFiles(root: string): string[] {
  const skip = new Set(['node_modules', 'dist', '.git', '.tmp']);
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (skip.has(e.name)) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.md')) out.push(relative(root, p));
    }
  };
  walk(root);
  return out.sort();
}

/** Every relative link (and its anchor, for a Markdown target) that does not resolve: "file: target (why)". */
export function brokenLinks(root: string, files = markdownFiles(root)): string[] {
  const broken: string[] = [];
  const anchors = new Map<string, Set<string>>();
  const anchorsIn = (file: string) => {
    const known = anchors.get(file);
    if (known) return known;
    const found = anchorsOf(readFileSync(join(root, file), 'utf8'));
    anchors.set(file, found);
    return found;
  };
  for (const file of files) {
    for (const target of linksOf(readFileSync(join(root, file), 'utf8'))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: and the like
      const [path, anchor] = target.split('#', 2);
      const to = path ? relative(root, join(root, dirname(file), decodeURI(path))) : file;
      if (to.startsWith('..') || !existsSync(join(root, to))) {
        broken.push(`${file}: ${target} (no such file)`);
        continue;
      }
      if (anchor && to.endsWith('.md') && statSync(join(root, to)).isFile() && !anchorsIn(to).has(anchor))
        broken.push(`${file}: ${target} (no such heading in ${to})`);
    }
  }
  return broken;
}

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

if (process.argv[1]?.endsWith('docs.js')) {
  for (const [file, parts] of Object.entries(GENERATED)) {
    const path = join(ROOT, file);
    writeFileSync(path, fillGenerated(readFileSync(path, 'utf8'), parts, file));
    process.stderr.write(`${file}: ${Object.keys(parts).join(', ')} regenerated\n`);
  }
  const broken = brokenLinks(ROOT);
  for (const b of broken) process.stderr.write(`broken link: ${b}\n`);
  if (broken.length) process.exitCode = 1;
}
