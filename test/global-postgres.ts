// Vitest global set-up: a folder where the run's one PostgreSQL cluster is described once a
// test file has started it (test/helpers/postgres.ts), and its stop at the end of the run.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { type ClusterInfo, pgMissing, stopCluster } from './helpers/postgres.js';

export default function setup(project: TestProject) {
  const state = mkdtempSync(join(tmpdir(), 'clmcp-pgstate-'));
  project.provide('pgState', state);
  if (pgMissing)
    process.stderr.write(
      'warning: PostgreSQL is not installed, so the PostgreSQL ledger tests are skipped (apt-get install -y postgresql; CI installs it and runs them)\n',
    );
  return () => {
    const file = join(state, 'cluster.json');
    try {
      if (existsSync(file)) stopCluster(JSON.parse(readFileSync(file, 'utf8')) as ClusterInfo);
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  };
}
