import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The reliability suites' settings, figures and process probes (their fixtures are in ../fixtures). */

/** Where every suite writes its figures (docs/reliability.md quotes their totals, from summary.mjs). */
export const FIGURES_DIR = resolve(import.meta.dirname, '../../.tmp/reliability');

/** Fuzz runs per property; CI default 1000, nightly e.g. FUZZ_RUNS=20000. */
export const FUZZ_RUNS = Math.max(1, Number(process.env.FUZZ_RUNS) || 1000);
/** Multiplier for the crash and load loops (nightly: RELIABILITY_SCALE=10). */
export const SCALE = Math.max(1, Number(process.env.RELIABILITY_SCALE) || 1);
/** Per-test time limits that grow with the settings above (vitest's default here is 30 s). */
export const FUZZ_TIMEOUT_MS = 60_000 + FUZZ_RUNS * 50;
export const LOOP_TIMEOUT_MS = 120_000 * SCALE;

export interface Figures {
  suite: string;
  inputs?: number;
  invalidInputs?: number;
  validInputs?: number;
  faults?: number;
  crashes?: number;
  toolCalls?: number;
  doubleSpends: number;
  leaks: number;
  scanned?: number;
  [k: string]: unknown;
}

/** Writes a suite's counts to .tmp/reliability/<suite>.json and prints them on stderr. */
export function writeFigures(f: Figures): void {
  mkdirSync(FIGURES_DIR, { recursive: true });
  const out = { ...f, at: new Date().toISOString(), fuzzRuns: FUZZ_RUNS, scale: SCALE };
  writeFileSync(join(FIGURES_DIR, `${f.suite}.json`), `${JSON.stringify(out, null, 2)}\n`);
  process.stderr.write(`[reliability] ${JSON.stringify(out)}\n`);
}

// ---------------------------------------------------------------------------------------------
// Processes.

/** Resident set size of a process, in KiB (Linux /proc). */
export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : Number.NaN;
}

/** Open file descriptors of a process (Linux /proc). */
export const fdCount = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
