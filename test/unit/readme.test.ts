import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  anchorsOf,
  brokenLinks,
  fillGenerated,
  GENERATED,
  linksOf,
  markdownFiles,
  ROOT,
  slug,
} from '../../scripts/docs.js';

const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

describe('README and docs/', () => {
  it.each(Object.keys(GENERATED))(
    '%s has its generated parts up to date with the code (run `npm run docs`)',
    (file) => {
      const text = read(file);
      expect(text).toBe(fillGenerated(text, GENERATED[file], file));
    },
  );

  it('starts with the two set-up commands', () => {
    const firstBlock = /```(?:sh|bash)?\n([\s\S]*?)```/.exec(read('README.md'))?.[1] ?? '';
    expect(firstBlock).toMatch(/npm start/);
    expect(firstBlock).toMatch(/npm test/);
  });

  it('stays short: at most ~300 lines', () => {
    expect(read('README.md').split('\n').length).toBeLessThanOrEqual(320);
  });

  it('checks the links of README.md, CHANGELOG.md and every docs/*.md', () => {
    const files = markdownFiles(ROOT);
    expect(files).toEqual(
      expect.arrayContaining(['README.md', 'CHANGELOG.md', 'docs/tools.md', 'docs/safety.md']),
    );
    expect(files.every((f) => !f.startsWith('node_modules'))).toBe(true);
  });

  it('has every relative link resolving to an existing file, and heading when it names one', () => {
    expect(brokenLinks(ROOT)).toEqual([]);
  });

  it('links every page of docs/ from the README', () => {
    const linked = new Set(linksOf(read('README.md')).map((l) => l.split('#')[0]));
    const pages = markdownFiles(ROOT).filter((f) => f.startsWith('docs/'));
    expect(pages.filter((p) => !linked.has(p))).toEqual([]);
  });
});

describe('the docs checker', () => {
  const dir = mkdtempSync(join(tmpdir(), 'clmcp-docs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('makes anchors as GitHub does', () => {
    expect(slug('`get_points_balance`: Get points balance')).toBe('get_points_balance-get-points-balance');
    expect(slug('Request a points redemption (maker-checker)')).toBe(
      'request-a-points-redemption-maker-checker',
    );
    expect(slug('Stateless scaling, and the one exception')).toBe('stateless-scaling-and-the-one-exception');
    expect([...anchorsOf('# A\n## A\n```\n# not a heading\n```\n<a id="x"></a>\n')]).toEqual([
      'a',
      'a-1',
      'x',
    ]);
  });

  it('finds a broken file link, a broken anchor and a link outside the tree, and ignores code and URLs', () => {
    mkdirSync(join(dir, 'docs'), { recursive: true });
    writeFileSync(join(dir, 'docs', 'b.md'), '# B page\n\n## Part two\n');
    writeFileSync(
      join(dir, 'README.md'),
      [
        '[ok](docs/b.md) [ok](docs/b.md#part-two) [ok](#top) [web](https://example.com/x.md)',
        '# Top',
        '[gone](docs/missing.md) [bad anchor](docs/b.md#part-three) [self](#nowhere) [out](../elsewhere.md)',
        '`[code](docs/missing.md)`',
        '```',
        '[fenced](docs/missing.md)',
        '```',
      ].join('\n'),
    );
    expect(brokenLinks(dir)).toEqual([
      'README.md: docs/missing.md (no such file)',
      'README.md: docs/b.md#part-three (no such heading in docs/b.md)',
      'README.md: #nowhere (no such heading in README.md)',
      'README.md: ../elsewhere.md (no such file)',
    ]);
  });

  it('finds a stale generated part and a missing marker', () => {
    const parts = { t: () => 'fresh\n' };
    expect(fillGenerated('a\n<!-- t:start -->\nstale\n<!-- t:end -->\n', parts)).toBe(
      'a\n<!-- t:start -->\nfresh\n<!-- t:end -->\n',
    );
    expect(() => fillGenerated('no markers', parts, 'x.md')).toThrow(/x.md has no t markers/);
  });
});
