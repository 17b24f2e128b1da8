// Lean JSON-RPC clients for MCP over stdio and Streamable HTTP. They do as little as possible, so
// what is measured is the server, not a client library (the SDK Client, for instance, validates
// every result against the cached output schema with AJV).
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';

export const PROTOCOL_VERSION = '2025-06-18';
const CLIENT_INFO = { name: 'clmcp-bench', version: '1.0.0' };

export interface RpcAnswer {
  msg: any;
  /** The raw message text as received. */
  raw: string;
}

export interface Rpc {
  request(method: string, params?: unknown, timeoutMs?: number): Promise<RpcAnswer>;
  notify(method: string, params?: unknown): Promise<void>;
}

/** Throws unless the answer is a JSON-RPC result (tool results with isError count as failures too). */
export function okResult(a: RpcAnswer): any {
  if (a.msg.error) throw new Error(`JSON-RPC error ${a.msg.error.code}: ${a.msg.error.message}`);
  if (a.msg.result?.isError) throw new Error(`tool error: ${a.msg.result.content?.[0]?.text?.slice(0, 300)}`);
  return a.msg.result;
}

/** Newline-delimited JSON-RPC over a child's stdin/stdout, with any number of requests in flight. */
export class StdioRpc implements Rpc {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (a: RpcAnswer) => void; reject: (e: Error) => void; t: NodeJS.Timeout }
  >();
  private buf = '';
  private dead?: Error;

  constructor(readonly cp: ChildProcess) {
    cp.stdout!.setEncoding('utf8');
    cp.stdout!.on('data', (d: string) => this.onData(d));
    cp.once('exit', (code, sig) => this.failAll(new Error(`server exited (${code ?? sig})`)));
    cp.stdin!.on('error', (e) => this.failAll(e));
  }

  private failAll(e: Error) {
    this.dead ??= e;
    for (const [id, p] of this.pending) {
      clearTimeout(p.t);
      p.reject(e);
      this.pending.delete(id);
    }
  }

  private onData(d: string) {
    this.buf += d;
    let nl = this.buf.indexOf('\n');
    while (nl >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      nl = this.buf.indexOf('\n');
      if (!line.trim()) continue;
      let msg: any;
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      if (msg.method !== undefined && msg.id !== undefined) {
        // A request from the server (ping, elicitation): this client offers nothing.
        this.write({
          jsonrpc: '2.0',
          id: msg.id,
          error: { code: -32601, message: 'not supported by the bench client' },
        });
        continue;
      }
      const p = this.pending.get(msg.id);
      if (!p) continue;
      this.pending.delete(msg.id);
      clearTimeout(p.t);
      p.resolve({ msg, raw: line });
    }
  }

  private write(m: unknown) {
    this.cp.stdin!.write(`${JSON.stringify(m)}\n`);
  }

  request(method: string, params?: unknown, timeoutMs = 10_000): Promise<RpcAnswer> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, t });
      this.write({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) });
    });
  }

  async notify(method: string, params?: unknown) {
    this.write({ jsonrpc: '2.0', method, ...(params === undefined ? {} : { params }) });
  }
}

/** MCP Streamable HTTP over node:http with a keep-alive agent; JSON or SSE answers. */
export class HttpRpc implements Rpc {
  private nextId = 1;
  private session?: string;
  private protocol?: string;
  readonly agent: http.Agent;
  private readonly url: URL;

  constructor(
    url: string,
    private readonly token?: string,
    maxSockets = 256,
  ) {
    this.url = new URL(url);
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  private post(
    body: unknown,
    timeoutMs: number,
  ): Promise<{ status: number; type: string; text: string; headers: http.IncomingHttpHeaders }> {
    const data = JSON.stringify(body);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'content-length': String(Buffer.byteLength(data)),
    };
    if (this.session) headers['mcp-session-id'] = this.session;
    if (this.protocol) headers['mcp-protocol-version'] = this.protocol;
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: this.url.hostname,
          port: this.url.port,
          path: this.url.pathname,
          method: 'POST',
          agent: this.agent,
          headers,
          timeout: timeoutMs,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d) => {
            text += d;
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              type: String(res.headers['content-type'] ?? ''),
              text,
              headers: res.headers,
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`HTTP request timed out after ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(data);
    });
  }

  async request(method: string, params?: unknown, timeoutMs = 10_000): Promise<RpcAnswer> {
    const id = this.nextId++;
    const res = await this.post(
      { jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) },
      timeoutMs,
    );
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.text.slice(0, 300)}`);
    if (method === 'initialize') {
      const sid = res.headers['mcp-session-id'];
      if (typeof sid === 'string') this.session = sid;
    }
    if (res.type.includes('text/event-stream')) {
      for (const line of res.text.split('\n')) {
        if (!line.startsWith('data:')) continue;
        const raw = line.slice(5).trim();
        let msg: any;
        try {
          msg = JSON.parse(raw);
        } catch {
          continue;
        }
        if (msg.id === id) return { msg, raw };
      }
      throw new Error(`no answer to request ${id} in the event stream`);
    }
    const msg = JSON.parse(res.text);
    const one = Array.isArray(msg) ? msg.find((m) => m.id === id) : msg;
    return { msg: one, raw: res.text };
  }

  async notify(method: string, params?: unknown) {
    const res = await this.post(
      { jsonrpc: '2.0', method, ...(params === undefined ? {} : { params }) },
      10_000,
    );
    if (res.status !== 202 && res.status !== 200)
      throw new Error(`HTTP ${res.status} on ${method}: ${res.text.slice(0, 300)}`);
  }

  /** Sets the protocol version header for later requests (after initialize). */
  setProtocol(v: string) {
    this.protocol = v;
  }

  close() {
    this.agent.destroy();
  }
}

/** initialize + notifications/initialized; returns the initialize answer. */
export async function handshake(rpc: Rpc, timeoutMs = 10_000): Promise<RpcAnswer> {
  const init = await rpc.request(
    'initialize',
    { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: CLIENT_INFO },
    timeoutMs,
  );
  okResult(init);
  if (rpc instanceof HttpRpc) rpc.setProtocol(init.msg.result.protocolVersion);
  await rpc.notify('notifications/initialized');
  return init;
}

export const callTool = (rpc: Rpc, name: string, args: Record<string, unknown>, timeoutMs?: number) =>
  rpc.request('tools/call', { name, arguments: args }, timeoutMs);
