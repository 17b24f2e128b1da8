// Generates the README's tool and configuration sections from the code, so they cannot drift.
// `npm run docs` rewrites them; test/unit/readme.test.ts fails when the README is stale.
import { readFileSync, writeFileSync } from 'node:fs';
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
    if (p.type === 'object' && p.properties) out.push(...rows(p, `${full}.`, required));
    if (p.type === 'array' && p.items?.properties) out.push(...rows(p.items, `${full}[].`, required));
  }
  return out;
}

export function renderTools(): string {
  const parts: string[] = [];
  for (const tool of ALL_TOOLS) {
    const t = listTool(tool);
    const a = annotationsFor(tool.effect);
    const hints = [
      a.readOnlyHint ? 'read-only' : 'writes',
      a.destructiveHint ? 'destructive' : 'non-destructive',
      a.idempotentHint ? 'idempotent' : 'not idempotent',
    ].join(', ');
    parts.push(
      `### \`${t.name}\`: ${t.title}\n\n${t.description}\n\n*${hints}*\n\n| argument | type | required | description |\n|---|---|---|---|\n${rows(t.inputSchema as JsonSchema).join('\n')}\n\nReturns:\n\n| field | type | description |\n|---|---|---|\n${rows(describedOutput(tool) as JsonSchema, '', false).join('\n')}\n`,
    );
  }
  return parts.join('\n');
}

export function renderConfig(): string {
  return `| variable | meaning | default |\n|---|---|---|\n${ENV_VARS.map(([n, d, def]) => `| \`${n}\` | ${d} | ${def ? `\`${def}\`` : ''} |`).join('\n')}\n`;
}

export function fillReadme(text: string): string {
  const put = (t: string, tag: string, body: string) => {
    const re = new RegExp(`(<!-- ${tag}:start -->\\n)[\\s\\S]*?(<!-- ${tag}:end -->)`);
    if (!re.test(t)) throw new Error(`README has no ${tag} markers`);
    return t.replace(re, `$1${body}$2`);
  };
  return put(put(text, 'tools', renderTools()), 'config', renderConfig());
}

if (process.argv[1]?.endsWith('docs.js')) {
  const path = new URL('../README.md', import.meta.url);
  writeFileSync(path, fillReadme(readFileSync(path, 'utf8')));
  process.stderr.write('README.md tool and configuration sections regenerated\n');
}
