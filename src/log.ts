import type { Redactor } from './safety/redact.js';

const LEVELS = { error: 0, warn: 1, info: 2, debug: 3 } as const;
export type LogLevel = keyof typeof LEVELS;

/** Logs go to stderr, one line each, secrets removed: stdout belongs to the stdio protocol. */
export class Logger {
  constructor(
    private readonly level: LogLevel,
    private readonly redactor?: Redactor,
  ) {}

  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    if (LEVELS[level] > LEVELS[this.level]) return;
    let line = `[capillary-loyalty-mcp] ${level}: ${msg}`;
    if (fields) line += ` ${JSON.stringify(fields)}`;
    process.stderr.write(`${this.redactor ? this.redactor.text(line) : line}\n`);
  }
  error(msg: string, f?: Record<string, unknown>) {
    this.log('error', msg, f);
  }
  warn(msg: string, f?: Record<string, unknown>) {
    this.log('warn', msg, f);
  }
  info(msg: string, f?: Record<string, unknown>) {
    this.log('info', msg, f);
  }
  debug(msg: string, f?: Record<string, unknown>) {
    this.log('debug', msg, f);
  }
}
