import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLI, childEnv, tempDir } from '../fixtures/cli.js';

/**
 * The command line as a user types it: help and version on stdout (they are the answer), every
 * word it does not take refused with the usage and exit status 2, never a server started by a
 * typo. stdin is closed, so a server that did start would end at once with status 0.
 */

const run = (args: string[]) => {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env: childEnv({ CAPILLARY_DATA_DIR: tempDir() }),
    input: '',
    encoding: 'utf8',
    timeout: 15_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};

const VERSION = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;

describe('command line', () => {
  it('--help and -h print the usage on stdout, exit 0', () => {
    for (const flag of ['--help', '-h', '--http --help']) {
      const r = run(flag.split(' '));
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^capillary-loyalty-mcp: MCP server/);
      expect(r.stdout).toMatch(/Usage:/);
      expect(r.stderr).toBe('');
    }
  });

  it('--version prints the package version on stdout, exit 0', () => {
    const r = run(['--version']);
    expect(r).toEqual({ status: 0, stdout: `${VERSION}\n`, stderr: '' });
  });

  it('an unknown option is refused with the usage and exit 2, with a suggestion for a typo', () => {
    const r = run(['--htp']);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^capillary-loyalty-mcp: unknown option "--htp" \(did you mean --http\?\)\n/);
    expect(r.stderr).toMatch(/Usage:/);
    expect(r.stderr).not.toMatch(/SANDBOX MODE|listening|MCP server ready/i);
  });

  it.each([
    [['--http', '--port', '0', '--verbose']],
    [['--stdio']],
    [['serve']],
    [['--port', '3000']],
    [['--version=1']],
  ])('%j: exit 2, nothing started', (args) => {
    const r = run(args);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/Usage:/);
  });

  it('a mistyped command is named with the nearest one', () => {
    const r = run(['sandbx']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown command "sandbx" \(did you mean sandbox\?\)/);
  });

  it('the subcommands: their own help on stdout; an unknown option is exit 2', () => {
    const help = run(['sandbox', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: capillary-loyalty-mcp sandbox/);
    const bad = run(['sandbox', '--bogus']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/unknown option "--bogus"/);
    const op = run(['settle', '--help']);
    expect(op.status).toBe(0);
    expect(op.stdout).toMatch(/capillary-loyalty-mcp settle --key/);
  });
});
