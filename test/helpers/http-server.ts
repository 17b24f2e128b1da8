import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CLI, tempDir } from './mcp.js';

export interface Child {
  proc: ChildProcess;
  stderr: () => string;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  exited: Promise<number | string>;
  stop: () => Promise<void>;
}

/** Spawns `node dist/cli.js ...args`; env is the whole environment it gets (plus PATH and HOME). */
export function spawnCli(args: string[], env: Record<string, string>): Child {
  const proc = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: env.HOME ?? tempDir('home-'), ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d) => {
    err += d.toString();
  });
  const exited = new Promise<number | string>((resolve) =>
    proc.once('exit', (code, sig) => resolve(code ?? sig ?? -1)),
  );
  return {
    proc,
    stderr: () => err,
    exited,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Waits until the child's stderr matches re (or it exits / times out) and returns the match. */
export async function waitForStderr(child: Child, re: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = child.stderr().match(re);
    if (m) return m;
    if (child.proc.exitCode !== null || child.proc.signalCode !== null)
      throw new Error(
        `process exited (${child.proc.exitCode ?? child.proc.signalCode}) before ${re}:\n${child.stderr()}`,
      );
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}:\n${child.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface HttpChild extends Child {
  url: string;
  port: number;
  dataDir: string;
}

/** `node dist/cli.js --http --port 0` (embedded sandbox unless env says otherwise); parses the URL from stderr. */
export async function spawnHttp(env: Record<string, string> = {}, args: string[] = []): Promise<HttpChild> {
  const dataDir = env.CAPILLARY_DATA_DIR ?? tempDir('data-');
  const child = spawnCli(['--http', '--port', '0', ...args], { CAPILLARY_DATA_DIR: dataDir, ...env });
  try {
    const m = await waitForStderr(child, /Streamable HTTP at (http:\/\/[^\s]+:(\d+)\/mcp)/);
    return { ...child, url: m[1], port: Number(m[2]), dataDir };
  } catch (e) {
    await child.stop();
    throw e;
  }
}

/** `node dist/cli.js sandbox --port 0`: the sandbox alone, for two servers to share. */
export async function spawnSandbox(): Promise<Child & { url: string }> {
  const child = spawnCli(['sandbox', '--port', '0'], {});
  const m = await waitForStderr(child, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  return { ...child, url: m[1] };
}

/** Env that points a server at a separately started sandbox. */
export const sandboxEnv = (url: string, dataDir: string) => ({
  CAPILLARY_BASE_URL: url,
  CAPILLARY_USERNAME: 'sandbox_till',
  CAPILLARY_PASSWORD: 'sandbox-password',
  CAPILLARY_ORG_ID: '50001',
  CAPILLARY_UI_AUTH_TOKEN: 'sandbox-ui-token',
  CAPILLARY_DATA_DIR: dataDir,
});

/** The SDK's real Client over Streamable HTTP. */
export async function connectHttp(
  url: string,
  opts: { capabilities?: Record<string, unknown>; headers?: Record<string, string> } = {},
): Promise<Client> {
  const client = new Client(
    { name: 'http-test-client', version: '1.0.0' },
    { capabilities: opts.capabilities ?? {} },
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: opts.headers ?? {} } }),
  );
  return client;
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export const MCP_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
} as const;

/** One HTTP request with full control of the headers (Host included), on a fresh connection. */
export function raw(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; chunked?: boolean } = {},
): Promise<RawResponse> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.body !== undefined && !opts.chunked && !('content-length' in headers))
      headers['content-length'] = String(Buffer.byteLength(opts.body));
    const req = httpRequest(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method: opts.method ?? 'GET',
        headers,
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined && opts.chunked) {
      // Several chunks, no content-length: the server must count as it reads.
      const b = Buffer.from(opts.body);
      const step = 64 * 1024;
      for (let i = 0; i < b.length; i += step) req.write(b.subarray(i, i + step));
      req.end();
    } else req.end(opts.body);
  });
}

/** A JSON-RPC message as a POST body. */
export const rpc = (method: string, params: Record<string, unknown> = {}, id: number | string = 1) =>
  JSON.stringify({ jsonrpc: '2.0', id, method, params });

/**
 * A Capillary stand-in whose redeem answers only after `delayMs` (for a call to be in flight
 * when the server is told to stop). `received` resolves when the first request arrives.
 */
/** A raw initialize that declares elicitation; its answer carries the session id to send back. */
export const initEliciting = (url: string, name = 'raw', headers: Record<string, string> = {}) =>
  raw(url, {
    method: 'POST',
    headers: { ...MCP_HEADERS, ...headers },
    body: rpc('initialize', {
      protocolVersion: '2025-06-18',
      capabilities: { elicitation: {} },
      clientInfo: { name, version: '1' },
    }),
  });

export class SlowUpstream {
  private server?: Server;
  url = '';
  hits = 0;
  private onHit?: () => void;
  readonly received = new Promise<void>((r) => {
    this.onHit = r;
  });

  constructor(
    private readonly delayMs: number,
    private readonly reply: (body: any) => unknown,
  ) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => {
        body += d;
      });
      req.on('end', () => {
        this.hits++;
        this.onHit?.();
        setTimeout(() => {
          const text = JSON.stringify(this.reply(body ? JSON.parse(body) : undefined));
          res.writeHead(200, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(text),
          });
          res.end(text);
        }, this.delayMs);
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }
}
