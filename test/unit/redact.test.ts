import { describe, expect, it } from 'vitest';
import { Redactor } from '../../src/safety/redact.js';

describe('redactor', () => {
  it('removes secrets in values and secret-named keys, deep', () => {
    const r = new Redactor(['hunter2-secret']);
    const out = r.value({
      a: 'x hunter2-secret y',
      headers: { Authorization: 'Basic zzz', ok: 'fine' },
      list: ['hunter2-secret'],
    });
    expect(out).toEqual({
      a: 'x [REDACTED] y',
      headers: { Authorization: '[REDACTED]', ok: 'fine' },
      list: ['[REDACTED]'],
    });
  });
});
