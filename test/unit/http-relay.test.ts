import { describe, expect, it } from 'vitest';
import { decodeSession, encodeSession } from '../../src/mcp/http/relay.js';

describe('HTTP session ids', () => {
  it('carries the elicitation capability in a self-contained session id', () => {
    expect(encodeSession({})).toBeUndefined();
    expect(encodeSession(undefined)).toBeUndefined();
    const sid = encodeSession({ elicitation: {}, sampling: {} })!;
    expect(sid).toMatch(/^mcp1\.[0-9a-f]{32}\.[A-Za-z0-9_-]+$/);
    expect(decodeSession(sid)).toEqual({ elicitation: { form: {} } });
    expect(decodeSession(encodeSession({ elicitation: { form: {}, url: {} } }))).toEqual({
      elicitation: { form: {}, url: {} },
    });
    expect(encodeSession({ elicitation: {} })).not.toBe(sid);
    for (const bad of [
      undefined,
      '',
      'abc',
      'mcp1.x.y',
      `mcp1.${'0'.repeat(32)}.!!!`,
      `mcp1.${'0'.repeat(32)}.bm90IGpzb24`,
    ])
      expect(decodeSession(bad)).toBeUndefined();
  });
});
