import { describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../fixtures/cli.js';

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

/** Starts the CLI with env and returns its exit status and stderr. */
const start = (env: Record<string, string>, args: string[] = []) =>
  runCli(args, { CAPILLARY_DATA_DIR: tempDir(), ...env }, 15_000);

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
  ])('%s: exit 1, one stderr line, no secret', async (_name, env, message) => {
    const r = await start({ ...base, ...env });
    expect(r.status).toBe(1);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.stderr).toMatch(/^capillary-loyalty-mcp: invalid configuration: /);
    expect(r.stderr).toMatch(message);
    for (const s of SECRETS) expect(r.stderr).not.toContain(s);
    // Never the base URL itself (it is where the userinfo or key sat).
    expect(r.stderr).not.toMatch(/capillarytech\.com|example\.com/);
  });

  it('also over --http', async () => {
    const r = await start({ ...base, CAPILLARY_BASE_URL: `https://u:${USERINFO}@eu.api.capillarytech.com` }, [
      '--http',
      '--port',
      '0',
    ]);
    expect(r.status).toBe(1);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.stderr).toMatch(/CAPILLARY_BASE_URL must not contain a user name or password/);
    expect(r.stderr).not.toContain(USERINFO);
  });
});
