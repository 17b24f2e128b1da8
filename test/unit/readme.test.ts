import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fillReadme } from '../../scripts/docs.js';

describe('README', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  it('has the tool and configuration sections generated from the code (run `npm run docs`)', () => {
    expect(readme).toBe(fillReadme(readme));
  });
  it('starts with the two set-up commands', () => {
    const firstBlock = /```(?:sh|bash)?\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    expect(firstBlock).toMatch(/npm start/);
    expect(firstBlock).toMatch(/npm test/);
  });
});
