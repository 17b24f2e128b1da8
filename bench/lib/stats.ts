// Percentiles and plain-text tables.

export interface Dist {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  min: number;
  mean: number;
}

/** Nearest-rank percentile of sorted values. */
function pct(sorted: number[], p: number): number {
  if (!sorted.length) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function dist(values: number[]): Dist {
  const s = [...values].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1);
  return { n: s.length, p50: pct(s, 50), p90: pct(s, 90), p99: pct(s, 99), min: s[0] ?? Number.NaN, mean };
}

export const round = (v: number, digits = 3) => (Number.isFinite(v) ? Number(v.toFixed(digits)) : v);

export function fmt(v: number | undefined, digits = 3): string {
  if (v === undefined || Number.isNaN(v)) return '-';
  return v.toFixed(digits);
}

/** A left-aligned first column, right-aligned others. */
export function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? (c ?? '').padEnd(w[i]) : (c ?? '').padStart(w[i]))).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

/** The same table as Markdown (for docs/performance.md: `npm run bench -- --markdown`). */
export function mdTable(head: string[], rows: string[][]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `| ${head.map(esc).join(' | ')} |`,
    `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

export const ms = () => performance.now();

/** One throughput window: calls/s over some seconds, with its latency and errors. */
export interface Window {
  calls_per_s: number;
  ok: number;
  errors: number;
  first_error?: string;
  seconds: number;
  p50_ms: number;
  p99_ms: number;
}
