import { describe, expect, it } from 'vitest';
import { selectTools } from '../../src/app.js';
import { ALL_TOOLS } from '../../src/toolkit/all-tools.js';

describe('selectTools', () => {
  it('tool selection: read-only wins, unknown names refused', () => {
    expect(selectTools(ALL_TOOLS, { readOnly: true, tools: ['redeem_points'] }).map((t) => t.name)).toEqual(
      [],
    );
    expect(selectTools(ALL_TOOLS, { readOnly: true }).every((t) => t.effect === 'read')).toBe(true);
    expect(() => selectTools(ALL_TOOLS, { readOnly: false, excludeTools: ['nope'] })).toThrow(
      /unknown tool name/,
    );
  });
});
