import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

const base = {
  CAPILLARY_BASE_URL: 'https://eu.api.capillarytech.com',
  CAPILLARY_USERNAME: 'u',
  CAPILLARY_PASSWORD: 'p',
};

/** Credentials for the base-URL checks below. */
const creds = { CAPILLARY_USERNAME: 'till.user', CAPILLARY_PASSWORD: 'cnry-pw-4e1d-77aa-q0' };

describe('config', () => {
  it('a base URL without credentials is an error at start, never a fallback', () => {
    expect(() => loadConfig({ CAPILLARY_BASE_URL: 'https://eu.api.capillarytech.com' })).toThrow(
      /no credentials are/,
    );
    expect(() => loadConfig({ ...base, CAPILLARY_PASSWORD: '' })).toThrow(/both be set/);
  });
  it('lists every problem, naming the variable', () => {
    try {
      loadConfig({
        ...base,
        CAPILLARY_TIMEOUT_MS: 'soon',
        CAPILLARY_READ_ONLY: 'maybe',
        CAPILLARY_BASE_URL: 'ftp://x',
      });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const msg = (e as Error).message;
      for (const v of ['CAPILLARY_TIMEOUT_MS', 'CAPILLARY_READ_ONLY', 'CAPILLARY_BASE_URL'])
        expect(msg).toContain(v);
    }
  });
  it('defaults: workflow host = base URL, data dir under XDG_DATA_HOME, OAuth when only a key pair is set', () => {
    const c = loadConfig({
      CAPILLARY_BASE_URL: 'http://127.0.0.1:8080/',
      CAPILLARY_OAUTH_CLIENT_KEY: 'k',
      CAPILLARY_OAUTH_CLIENT_SECRET: 's',
      XDG_DATA_HOME: '/x',
    });
    expect(c.baseUrl).toBe('http://127.0.0.1:8080');
    expect(c.workflowBaseUrl).toBe('http://127.0.0.1:8080');
    expect(c.auth).toEqual({ kind: 'oauth', key: 'k', secret: 's' });
    expect(c.dataDir).toBe('/x/capillary-loyalty-mcp');
    expect(c.environment).toBe('live');
  });
  it('the sandbox is used only when no base URL is set', () => {
    const sb = { url: 'http://127.0.0.1:1', username: 'a', password: 'b', orgId: '1', uiAuthToken: 't' };
    expect(loadConfig({}, sb).environment).toBe('sandbox');
    expect(loadConfig(base, sb).environment).toBe('live');
    expect(() => loadConfig({})).toThrow(/CAPILLARY_BASE_URL is not set/);
  });

  it('loopback hosts may use http:// (local fakes); CAPILLARY_ALLOW_INSECURE_HTTP=true allows others', () => {
    for (const url of ['http://127.0.0.1:8080', 'http://localhost:9', 'http://[::1]:9', 'http://127.1.2.3'])
      expect(loadConfig({ ...creds, CAPILLARY_BASE_URL: url }).baseUrl).toBe(url);
    expect(() => loadConfig({ ...creds, CAPILLARY_BASE_URL: 'http://10.0.0.5' })).toThrow(/http:\/\//);
    expect(
      loadConfig({ ...creds, CAPILLARY_BASE_URL: 'http://10.0.0.5', CAPILLARY_ALLOW_INSECURE_HTTP: 'true' })
        .baseUrl,
    ).toBe('http://10.0.0.5');
    expect(() =>
      loadConfig({ ...creds, CAPILLARY_BASE_URL: 'http://10.0.0.5', CAPILLARY_ALLOW_INSECURE_HTTP: 'maybe' }),
    ).toThrow(/CAPILLARY_ALLOW_INSECURE_HTTP must be true or false/);
    // https is always fine, and the limits have their defaults.
    const c = loadConfig({ ...creds, CAPILLARY_BASE_URL: 'https://eu.api.capillarytech.com/' });
    expect(c).toMatchObject({ maxResponseBytes: 1_048_576, maxStringChars: 1000, maxArrayItems: 100 });
    expect(() =>
      loadConfig({ ...creds, CAPILLARY_BASE_URL: 'https://x.example', CAPILLARY_MAX_RESPONSE_BYTES: '10' }),
    ).toThrow(/CAPILLARY_MAX_RESPONSE_BYTES must be a whole number >= 1024/);
  });
});

describe('ledger selection', () => {
  it('CAPILLARY_LEDGER_URL selects PostgreSQL; its password is a secret, never echoed in a problem', async () => {
    const { configSecrets } = await import('../../src/config.js');
    const c = loadConfig({ ...base, CAPILLARY_LEDGER_URL: 'postgres://app:s3cr%40t@db:5432/ledger' });
    expect(c.ledger).toBe('postgres');
    expect(c.ledgerTarget).toEqual({ connectionString: 'postgres://app:s3cr%40t@db:5432/ledger' });
    expect(configSecrets(c)).toContain('s3cr@t');
    expect(() => loadConfig({ ...base, CAPILLARY_LEDGER_URL: 'mysql://app:hunter2@db/x' })).toThrow(
      /must start with postgres:\/\//,
    );
    try {
      loadConfig({ ...base, CAPILLARY_LEDGER_URL: 'mysql://app:hunter2@db/x' });
    } catch (e) {
      expect((e as Error).message).not.toContain('hunter2');
    }
    expect(() =>
      loadConfig({ ...base, CAPILLARY_LEDGER: 'file', CAPILLARY_LEDGER_URL: 'postgres://db/x' }),
    ).toThrow(/set one or the other/);
  });
  it('the PG* variables are used only with CAPILLARY_LEDGER=postgres, read from the given environment', () => {
    const pgVars = {
      PGHOST: 'db.internal',
      PGPORT: '6543',
      PGUSER: 'app',
      PGPASSWORD: 'pw-7',
      PGDATABASE: 'l',
    };
    expect(loadConfig({ ...base, ...pgVars }).ledger).toBe('file');
    const c = loadConfig({ ...base, ...pgVars, CAPILLARY_LEDGER: 'postgres' });
    expect(c.ledgerTarget).toEqual({
      host: 'db.internal',
      port: 6543,
      user: 'app',
      password: 'pw-7',
      database: 'l',
    });
    expect(() => loadConfig({ ...base, ...pgVars, PGPORT: 'x', CAPILLARY_LEDGER: 'postgres' })).toThrow(
      /PGPORT/,
    );
    expect(() => loadConfig({ ...base, CAPILLARY_LEDGER: 'redis' })).toThrow(/file, postgres or memory/);
  });
});
