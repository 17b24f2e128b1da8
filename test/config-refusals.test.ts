import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { CLI, tempDir } from './helpers/mcp.js';

/**
 * Configuration that cannot be safe refuses to start: exit code 1, one line on stderr naming the
 * variable, and neither a secret nor the offending base URL in it.
 */
const PASSWORD = 'cnry-pw-4e1d-77aa-q0';
const USERINFO = 'cnry-ui-9b2c';
const base = {
  CAPILLARY_USERNAME: 'till.user',
  CAPILLARY_PASSWORD: PASSWORD,
  CAPILLARY_UI_AUTH_TOKEN: 'cnry-jwt-a.cnry-jwt-b.cnry-jwt-c',
  MCP_HTTP_TOKEN: 'cnry-bearer-0f3e-81c2',
};

/** Starts the CLI with env (stdin closed at once) and returns its exit code and stderr. */
function start(env: Record<string, string>, args: string[] = []) {
  const dir = tempDir();
  const p = spawnSync(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: dir, CAPILLARY_DATA_DIR: dir, ...env },
    input: '',
    encoding: 'utf8',
    timeout: 15_000,
  });
  return { code: p.status, stderr: p.stderr, stdout: p.stdout };
}

const SECRETS = [PASSWORD, USERINFO, base.CAPILLARY_UI_AUTH_TOKEN, base.MCP_HTTP_TOKEN];

describe('start-up refusals', () => {
  it.each<[string, Record<string, string>, RegExp]>([
    [
      'user:pass@ in CAPILLARY_BASE_URL',
      { CAPILLARY_BASE_URL: `https://till.user:${USERINFO}@eu.api.capillarytech.com` },
      /CAPILLARY_BASE_URL must not contain a user name or password/,
    ],
    [
      'a user name alone in CAPILLARY_WORKFLOW_BASE_URL',
      {
        CAPILLARY_BASE_URL: 'https://eu.api.capillarytech.com',
        CAPILLARY_WORKFLOW_BASE_URL: `https://${USERINFO}@crm.example.com`,
      },
      /CAPILLARY_WORKFLOW_BASE_URL must not contain a user name or password/,
    ],
    [
      'a query string in CAPILLARY_BASE_URL',
      { CAPILLARY_BASE_URL: `https://eu.api.capillarytech.com/?key=${USERINFO}` },
      /CAPILLARY_BASE_URL must not have a query string or fragment/,
    ],
    [
      'http:// for a live host',
      { CAPILLARY_BASE_URL: 'http://eu.api.capillarytech.com' },
      /CAPILLARY_BASE_URL is http:\/\/ for a host that is not loopback.*CAPILLARY_ALLOW_INSECURE_HTTP=true/,
    ],
    [
      'http:// for a live workflow host',
      {
        CAPILLARY_BASE_URL: 'https://eu.api.capillarytech.com',
        CAPILLARY_WORKFLOW_BASE_URL: 'http://crm.example.com',
      },
      /CAPILLARY_WORKFLOW_BASE_URL is http:\/\//,
    ],
    [
      'a URL that does not parse, holding a password',
      { CAPILLARY_BASE_URL: `https://till.user:${USERINFO}@eu.api.capillarytech.com:99999` },
      /CAPILLARY_BASE_URL is not a valid URL/,
    ],
    [
      'a secret pasted into the wrong variable',
      { CAPILLARY_BASE_URL: 'https://eu.api.capillarytech.com', CAPILLARY_LOG_LEVEL: PASSWORD },
      /CAPILLARY_LOG_LEVEL must be error, warn, info or debug \(got "\[REDACTED\]"\)/,
    ],
  ])('%s: exit 1, one stderr line, no secret', (_name, env, message) => {
    const r = start({ ...base, ...env });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.stderr).toMatch(/^capillary-loyalty-mcp: invalid configuration: /);
    expect(r.stderr).toMatch(message);
    for (const s of SECRETS) expect(r.stderr).not.toContain(s);
    // Never the base URL itself (it is where the userinfo or key sat).
    expect(r.stderr).not.toMatch(/capillarytech\.com|example\.com/);
  });

  it('also over --http', () => {
    const r = start({ ...base, CAPILLARY_BASE_URL: `https://u:${USERINFO}@eu.api.capillarytech.com` }, [
      '--http',
      '--port',
      '0',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.stderr).toMatch(/CAPILLARY_BASE_URL must not contain a user name or password/);
    expect(r.stderr).not.toContain(USERINFO);
  });

  it('loopback hosts may use http:// (local fakes); CAPILLARY_ALLOW_INSECURE_HTTP=true allows others', () => {
    for (const url of ['http://127.0.0.1:8080', 'http://localhost:9', 'http://[::1]:9', 'http://127.1.2.3'])
      expect(loadConfig({ ...base, CAPILLARY_BASE_URL: url }).baseUrl).toBe(url);
    expect(() => loadConfig({ ...base, CAPILLARY_BASE_URL: 'http://10.0.0.5' })).toThrow(/http:\/\//);
    expect(
      loadConfig({ ...base, CAPILLARY_BASE_URL: 'http://10.0.0.5', CAPILLARY_ALLOW_INSECURE_HTTP: 'true' })
        .baseUrl,
    ).toBe('http://10.0.0.5');
    expect(() =>
      loadConfig({ ...base, CAPILLARY_BASE_URL: 'http://10.0.0.5', CAPILLARY_ALLOW_INSECURE_HTTP: 'maybe' }),
    ).toThrow(/CAPILLARY_ALLOW_INSECURE_HTTP must be true or false/);
    // https is always fine, and the limits have their defaults.
    const c = loadConfig({ ...base, CAPILLARY_BASE_URL: 'https://eu.api.capillarytech.com/' });
    expect(c).toMatchObject({ maxResponseBytes: 1_048_576, maxStringChars: 1000, maxArrayItems: 100 });
    expect(() =>
      loadConfig({ ...base, CAPILLARY_BASE_URL: 'https://x.example', CAPILLARY_MAX_RESPONSE_BYTES: '10' }),
    ).toThrow(/CAPILLARY_MAX_RESPONSE_BYTES must be a whole number >= 1024/);
  });
});
