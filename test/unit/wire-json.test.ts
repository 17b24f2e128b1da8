import { describe, expect, it } from 'vitest';
import { RawNumber, stringifyWire } from '../../src/capillary/wire-json.js';

describe('wire JSON', () => {
  it('keeps 19-digit numbers exact and cannot be spoofed by a string', () => {
    const text = stringifyWire({ billId: new RawNumber('9223372036854775807'), s: '\u0000raw:5' });
    expect(text).toContain('"billId":9223372036854775807');
    expect(JSON.parse(text).s).toBe('\u0000raw:5');
  });
});
