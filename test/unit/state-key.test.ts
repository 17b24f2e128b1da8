import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, configSecrets, loadConfig } from '../../src/config.js';
import { STATE_KEY_FILE, stateKey } from '../../src/mcp/state.js';
import { tempDir } from '../fixtures/cli.js';

/** The key that signs a 2026-07-28 confirmation's requestState (src/mcp/state.ts). */

const base = {
  CAPILLARY_BASE_URL: 'https://eu.api.capillarytech.com',
  CAPILLARY_USERNAME: 'u',
  CAPILLARY_PASSWORD: 'p',
};
const KEY = 'state-key-for-the-config-test-0123456789';

describe('the requestState key', () => {
  it('CAPILLARY_STATE_KEY is used as given, must be long, and is a secret the redactor knows', () => {
    const cfg = loadConfig({ ...base, CAPILLARY_STATE_KEY: KEY });
    expect(stateKey(cfg)).toBe(KEY);
    expect(configSecrets(cfg)).toContain(KEY);
    let err: unknown;
    try {
      loadConfig({ ...base, CAPILLARY_STATE_KEY: 'short-secret-value' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(String((err as ConfigError).problems)).toMatch(/CAPILLARY_STATE_KEY must be at least 32/);
    // The refusal does not echo the value.
    expect(String((err as ConfigError).problems)).not.toMatch(/short-secret-value/);
  });

  it('without it, a random key is generated once in the data dir (mode 0600) and kept', () => {
    const dataDir = join(tempDir('state-'), 'nested');
    const first = stateKey({ dataDir });
    expect(first.length).toBeGreaterThanOrEqual(32);
    const file = join(dataDir, STATE_KEY_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toBe(first);
    // A restart (another call) reads the same key; another data dir gets another one.
    expect(stateKey({ dataDir })).toBe(first);
    expect(stateKey({ dataDir: tempDir('state-') })).not.toBe(first);
  });
});
