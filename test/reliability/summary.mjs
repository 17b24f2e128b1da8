#!/usr/bin/env node
// Totals of the last reliability run, from the figures each suite writes to .tmp/reliability/.
// Usage: npx vitest run test/reliability && node test/reliability/summary.mjs [figures dir]
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const dir = resolve(process.argv[2] ?? resolve(import.meta.dirname, '../../.tmp/reliability'));
if (!existsSync(dir)) {
  process.stderr.write('no figures yet: run `npx vitest run test/reliability` first\n');
  process.exit(1);
}
const suites = Object.fromEntries(
  readdirSync(dir)
    .filter((f) => f.endsWith('.json') && f !== 'summary.json')
    .map((f) => {
      const j = JSON.parse(readFileSync(join(dir, f), 'utf8'));
      return [j.suite, j];
    }),
);
const get = (s, k) => suites[s]?.[k] ?? 0;
const sum = (k) => Object.values(suites).reduce((a, s) => a + (Number(s[k]) || 0), 0);
const fmt = (n) => Number(n).toLocaleString('en-US');

const total = {
  inputsTried: get('fuzz', 'inputs') + get('fuzz-stdio', 'inputs'),
  invalid: get('fuzz', 'invalidInputs') + get('fuzz-stdio', 'invalidInputs'),
  junk: get('fuzz', 'junkInputs') + get('fuzz-stdio', 'junkInputs'),
  valid: get('fuzz', 'validInputs') + get('fuzz-stdio', 'validInputs'),
  edgeCases: get('fuzz', 'edgeCases'),
  requestsChecked: get('fuzz', 'requestsChecked') + get('fuzz-stdio', 'requestsChecked'),
  faultsInjected: get('faults', 'faults'),
  crashesSurvived: get('crash', 'crashes'),
  loadCalls: get('load', 'toolCalls'),
  doubleSpends: sum('doubleSpends'),
  leaks: sum('leaks'),
  itemsSwept: sum('scanned'),
  fuzzRuns: suites.fuzz?.fuzzRuns,
  scale: suites.crash?.scale ?? suites.load?.scale,
  at: Object.values(suites)
    .map((s) => s.at)
    .sort()
    .pop(),
  suites: Object.keys(suites).sort(),
};
writeFileSync(join(dir, 'summary.json'), `${JSON.stringify({ total, suites }, null, 2)}\n`);

const l = suites.load;
const lines = [
  `| figure | last run |`,
  `|---|---|`,
  `| inputs tried (fuzz, ${fmt(total.fuzzRuns)} runs per property) | ${fmt(total.inputsTried)}: ${fmt(total.invalid)} invalid, ${fmt(total.junk)} arbitrary JSON, ${fmt(total.valid)} valid, ${fmt(total.edgeCases)} named edge cases; ${fmt(total.requestsChecked)} wire requests checked field by field |`,
  `| faults injected | ${fmt(total.faultsInjected)} (${fmt(get('faults', 'scenarios'))} scenarios) |`,
  `| crashes survived (kill -9) | ${fmt(total.crashesSurvived)} (${fmt(get('crash', 'serverKills'))} of the server, ${fmt(get('crash', 'sandboxKills'))} of the sandbox, the rest torn ledger writes) |`,
  l
    ? `| load (HTTP, concurrency 64) | ${fmt(l.toolCalls)} calls, ${fmt(l.unexpectedErrors)} unexpected errors, ${fmt(l.callsPerSecond)} calls/s; RSS ${l.rssStartMiB} → peak ${l.rssPeakMiB} → ${l.rssEndMiB} MiB; heap after GC ${l.heapStartMiB} → ${l.heapEndMiB} MiB; fds ${l.fdStart} → ${l.fdEnd} |`
    : '| load | not run |',
  `| double spends | **${fmt(total.doubleSpends)}** |`,
  `| secret leaks | **${fmt(total.leaks)}** (${fmt(total.itemsSwept)} outputs, logs, ledgers and audit logs swept) |`,
];
process.stdout.write(`${lines.join('\n')}\n\n_Last run: ${total.at}, suites: ${total.suites.join(', ')}._\n`);
