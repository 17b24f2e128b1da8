import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseSandboxArgs, runSandboxCli } from '../../src/sandbox/cli.js';
import { loadSeedFile, type SandboxHandle, startSandbox, validateSeed } from '../../src/sandbox/index.js';
import { balance, call, redeem } from '../fixtures/sandbox.js';

const dir = mkdtempSync(join(tmpdir(), 'cap-sandbox-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let sb: SandboxHandle | undefined;
afterEach(async () => {
  await sb?.close();
  sb = undefined;
});

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('seed files', () => {
  it('loads the documented user seed shape', async () => {
    const p = file(
      'user-seed.json',
      '{"customers":[{"id":101,"mobile":"919000000001","email":"a@example.com","external_id":"EXT-1","points":5000,"promised":[{"bill_number":"B-1","points":120,"program_id":1,"item_code":"SKU-1","line_item_id":11,"event_name":"TransactionAdd","event_log_id":9001}]}]}',
    );
    const seed = loadSeedFile(p);
    expect(seed.customers[0].promised?.[0].bill_number).toBe('B-1');
    sb = await startSandbox({ seed: p });
    expect(await balance(sb, '919000000001')).toBe(5000);
    const other = await redeem(sb, { points_redeemed: 1, customer: { mobile: '919000000002' } });
    expect(other.json.response.responses.points.item_status.code).toBe(816);
  });

  it('minimal customers (id, mobile, points) load, with decimal points', async () => {
    sb = await startSandbox({ seed: { customers: [{ id: 7, mobile: '911234567890', points: '12.5' }] } });
    expect(await balance(sb, '911234567890')).toBe(12.5);
  });

  it('names file, line, column and field for a bad mobile', () => {
    const p = file(
      'seed.json',
      [
        '{',
        '  "customers": [',
        '    { "id": 1, "mobile": "911000000001", "points": 10 },',
        '    {',
        '      "id": 2,',
        '      "points": 5,',
        '      "mobile": 9110000002',
        '    }',
        '  ]',
        '}',
      ].join('\n'),
    );
    expect(() => loadSeedFile(p)).toThrow(
      `${p}: customers[1].mobile (line 7, column 17): expected a digit string`,
    );
  });

  it('reports missing fields at the object, unknown fields, bad fault kinds, duplicates and precision', () => {
    const missing = file('missing.json', '{"customers": [\n  {"id": 1, "points": 1}\n]}');
    expect(() => loadSeedFile(missing)).toThrow(
      /missing\.json: customers\[0\]\.mobile \(line 2, column 3\): expected a digit string/,
    );
    const unknown = file(
      'unknown.json',
      '{"customers": [\n  {"id": 1, "mobile": "911000000001", "points": 1,\n   "requires_validaton": true}\n]}',
    );
    expect(() => loadSeedFile(unknown)).toThrow(
      /customers\[0\]\.requires_validaton \(line 3, column 26\): unknown field/,
    );
    const fault = file(
      'fault.json',
      '{"customers": [{"id": 1, "mobile": "911000000001", "points": 1, "fault": {"kind": "boom"}}]}',
    );
    expect(() => loadSeedFile(fault)).toThrow(
      /customers\[0\]\.fault\.kind \(line 1, column \d+\): expected one of error_500/,
    );
    const dup = file(
      'dup.json',
      '{"customers": [\n{"id": 1, "mobile": "911000000001", "points": 1},\n{"id": 2, "mobile": "911000000001", "points": 1}]}',
    );
    expect(() => loadSeedFile(dup)).toThrow(
      /customers\[1\]\.mobile \(line 3, column \d+\): duplicate mobile/,
    );
    const prec = file('prec.json', '{"customers": [{"id": 1, "mobile": "911000000001", "points": 1.2345}]}');
    expect(() => loadSeedFile(prec)).toThrow(/customers\[0\]\.points .*at most 3 decimals/);
    const syntax = file('syntax.json', '{"customers": [\n  {"id": 1,, }\n]}');
    expect(() => loadSeedFile(syntax)).toThrow(/syntax\.json: invalid JSON: .*\(line 2, column 12\)/);
    expect(() => loadSeedFile(join(dir, 'absent.json'))).toThrow(/absent\.json: cannot read seed file/);
    expect(() => validateSeed({ customers: [{ id: -1, mobile: '911000000001', points: 1 }] })).toThrow(
      /seed: customers\[0\]\.id: expected a positive integer/,
    );
  });

  it('startSandbox rejects with the seed error', async () => {
    const p = file('bad2.json', '{"customers": [{"id": 1, "mobile": "x", "points": 1}]}');
    await expect(startSandbox({ seed: p })).rejects.toThrow(/bad2\.json: customers\[0\]\.mobile \(line 1/);
  });
});

describe('persistence', () => {
  it('state survives a restart with the same statePath', async () => {
    const statePath = join(dir, 'state.json');
    sb = await startSandbox({ statePath });
    expect(existsSync(statePath)).toBe(true);
    const r = await redeem(sb, {
      points_redeemed: '12.345',
      customer: { mobile: '919000000001' },
      external_reference_number: 'P-1',
    });
    const id = r.json.response.responses.points.redemption_id;
    await call(sb, 'PUT', '/v2/points/updateRedemption', {
      redemptionId: id,
      billId: '9223372036854775806',
      entity: { type: 'CUSTOMER', identifierType: 'mobile', identifierValue: '919000000001' },
    });
    await call(
      sb,
      'POST',
      '/v2/points/unlockPromisedPoints?identifierName=mobile&identifierValue=919000000003&source=INSTORE',
      { eventName: 'TransactionAdd', billNumber: 'B-1001' },
    );
    await sb.close();
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(readFileSync(statePath, 'utf8')).toContain('"billId":"9223372036854775806"');

    sb = await startSandbox({ statePath });
    expect(await balance(sb, '919000000001')).toBe(4987.655);
    expect(await balance(sb, '919000000003')).toBe(1120);
    const replay = await redeem(sb, {
      points_redeemed: '12.345',
      customer: { mobile: '919000000001' },
      external_reference_number: 'P-1',
    });
    expect(replay.text).toBe(r.text);
    expect(await balance(sb, '919000000001')).toBe(4987.655);
    const upd = await call(sb, 'PUT', '/v2/points/updateRedemption', {
      redemptionId: id,
      purpose: 'after restart',
      entity: { type: 'CUSTOMER', identifierType: 'mobile', identifierValue: '919000000001' },
    });
    expect(upd.text).toContain('"billId":9223372036854775806,');
    const again = await call(
      sb,
      'POST',
      '/v2/points/unlockPromisedPoints?identifierName=mobile&identifierValue=919000000003&source=INSTORE',
      { eventName: 'TransactionAdd', billNumber: 'B-1001' },
    );
    expect(again.json.errors[0].code).toBe(82323282);
  });

  it('a corrupted state file makes startSandbox reject, naming the file, and leaves it untouched', async () => {
    const bad = file('corrupt.json', '{"format":"capillary-sandbox-state","version":1,"customers":[');
    await expect(startSandbox({ statePath: bad })).rejects.toThrow(`sandbox state file ${bad} is corrupted`);
    expect(readFileSync(bad, 'utf8')).toBe('{"format":"capillary-sandbox-state","version":1,"customers":[');
    const wrong = file('wrong.json', '{"hello": "world"}');
    await expect(startSandbox({ statePath: wrong })).rejects.toThrow(
      /wrong\.json is corrupted or not a sandbox state file/,
    );
    const empty = file('empty.json', '');
    await expect(startSandbox({ statePath: empty })).rejects.toThrow(/empty\.json is corrupted/);
  });
});

describe('cli', () => {
  it('parses options', () => {
    expect(
      parseSandboxArgs(['--port', '8080', '--seed', 's.json', '--state=st.json', '--host', '127.0.0.1']),
    ).toEqual({
      port: 8080,
      seed: 's.json',
      statePath: 'st.json',
      host: '127.0.0.1',
    });
    expect(parseSandboxArgs(['sandbox', '--port=0'])).toEqual({ port: 0 });
    expect(() => parseSandboxArgs(['--port', 'x'])).toThrow(/--port expects/);
    expect(() => parseSandboxArgs(['--bogus'])).toThrow(/unknown option/);
    expect(() => parseSandboxArgs(['--seed'])).toThrow(/needs a value/);
  });

  it('starts, prints the URL and usernames but not the password', async () => {
    let out = '';
    const h = await runSandboxCli(['--port', '0'], { stderr: (t) => (out += t), handleSignals: false });
    expect(h).toBeDefined();
    sb = h;
    expect(out).toContain(`listening on ${h!.url}`);
    expect(out).toContain(`GET ${h!.url}/__sandbox/stats`);
    expect(out).toContain('sandbox_till');
    expect(out).toContain('sandbox-key');
    expect(out).not.toContain('sandbox-password');
    expect(out).not.toContain('sandbox-secret');
    expect(await balance(h!, '919000000001')).toBe(5000);
  });
});
