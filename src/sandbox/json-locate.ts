/**
 * A small JSON parser that remembers where every value starts, so that seed and state
 * file errors can name the line and column of the field at fault.
 * Only used when loading files (not on the request path).
 */

export interface Position {
  line: number;
  column: number;
}

export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: Position,
  ) {
    super(message);
  }
}

export interface LocatedJson {
  value: unknown;
  /** path ("customers[1].mobile", "" for the root) -> position of the value's first char */
  positions: Map<string, Position>;
  /** path -> position of the member's key (objects only), for "missing field" errors */
  keyPositions: Map<string, Position>;
}

export function pathToString(path: ReadonlyArray<PropertyKey>): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else if (typeof p === 'string' && /^[A-Za-z_$][\w$]*$/.test(p)) s += s === '' ? p : `.${p}`;
    else s += `[${JSON.stringify(String(p))}]`;
  }
  return s;
}

function childPath(path: string, key: string): string {
  const seg = /^[A-Za-z_$][\w$]*$/.test(key) ? (path === '' ? key : `.${key}`) : `[${JSON.stringify(key)}]`;
  return path + seg;
}

export function parseLocated(text: string): LocatedJson {
  const positions = new Map<string, Position>();
  const keyPositions = new Map<string, Position>();
  let i = 0;
  // line starts for offset -> line/column
  const lineStarts = [0];
  for (let k = 0; k < text.length; k++) if (text.charCodeAt(k) === 10) lineStarts.push(k + 1);
  const pos = (off: number): Position => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= off) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: off - lineStarts[lo] + 1 };
  };
  const fail = (msg: string, off = i): never => {
    const p = pos(Math.min(off, text.length));
    throw new JsonSyntaxError(`${msg} (line ${p.line}, column ${p.column})`, p);
  };
  const ws = () => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i++;
      else break;
    }
  };
  const parseString = (): string => {
    const start = i;
    i++; // opening quote
    let s = '';
    for (;;) {
      if (i >= text.length) fail('unterminated string', start);
      const c = text[i];
      if (c === '"') {
        i++;
        return s;
      }
      if (c === '\\') {
        const e = text[i + 1];
        const map: Record<string, string> = {
          '"': '"',
          '\\': '\\',
          '/': '/',
          b: '\b',
          f: '\f',
          n: '\n',
          r: '\r',
          t: '\t',
        };
        if (e === 'u') {
          const hex = text.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('invalid \\u escape');
          s += String.fromCharCode(Number.parseInt(hex, 16));
          i += 6;
        } else if (e !== undefined && e in map) {
          s += map[e];
          i += 2;
        } else fail('invalid escape in string');
        continue;
      }
      if (c.charCodeAt(0) < 32) fail('control character in string');
      s += c;
      i++;
    }
  };
  const NUM = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const parseValue = (path: string): unknown => {
    ws();
    if (i >= text.length) fail('unexpected end of JSON');
    positions.set(path, pos(i));
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: Record<string, unknown> = {};
      ws();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a property name in double quotes');
        const keyOff = i;
        const key = parseString();
        const p = childPath(path, key);
        keyPositions.set(p, pos(keyOff));
        ws();
        if (text[i] !== ':') fail("expected ':' after property name");
        i++;
        obj[key] = parseValue(p);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return obj;
        }
        fail("expected ',' or '}' in object");
      }
    }
    if (c === '[') {
      i++;
      const arr: unknown[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(parseValue(`${path}[${arr.length}]`));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return arr;
        }
        fail("expected ',' or ']' in array");
      }
    }
    if (c === '"') return parseString();
    if (text.startsWith('true', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return false;
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return null;
    }
    NUM.lastIndex = i;
    const m = NUM.exec(text);
    if (m) {
      i += m[0].length;
      return Number(m[0]);
    }
    return fail(`unexpected character ${JSON.stringify(c)}`);
  };
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  const value = parseValue('');
  ws();
  if (i < text.length) fail('unexpected content after the JSON value');
  return { value, positions, keyPositions };
}

/** Best position for a path: the value itself, else the nearest existing ancestor. */
export function locate(located: LocatedJson, path: ReadonlyArray<PropertyKey>): Position | undefined {
  for (let n = path.length; n >= 0; n--) {
    const p = pathToString(path.slice(0, n));
    const hit = located.positions.get(p);
    if (hit) return hit;
  }
  return undefined;
}
