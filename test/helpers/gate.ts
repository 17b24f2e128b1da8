/**
 * A pass-through proxy in front of an upstream that can hold chosen requests: a test catches a
 * money call in flight (to kill its server, or restart its database), then lets it through to
 * the upstream (it is applied, its answer goes to whoever still listens) or drops it.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

interface Held {
  body: Buffer;
  release(): void;
  drop(): void;
}

export class Gate {
  private server?: Server;
  url = '';
  private holdIf?: (path: string, body: string) => boolean;
  private readonly held: Held[] = [];
  private waiters: Array<() => void> = [];

  constructor(private readonly upstream: string) {}

  async start(): Promise<this> {
    const up = new URL(this.upstream);
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d) => chunks.push(d));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const forward = () => {
          const out = request(
            { host: up.hostname, port: up.port, path: req.url, method: req.method, headers: req.headers },
            (r) => {
              res.writeHead(r.statusCode ?? 502, r.headers);
              r.pipe(res);
            },
          );
          out.on('error', () => res.destroy());
          out.end(body);
        };
        if (this.holdIf?.(req.url ?? '', body.toString('utf8'))) {
          this.held.push({ body, release: forward, drop: () => res.destroy() });
          for (const w of this.waiters.splice(0)) w();
        } else forward();
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Holds the requests matching `match` until released; others pass. */
  hold(match: (path: string, body: string) => boolean): void {
    this.holdIf = match;
  }

  /** Resolves with the first held request. */
  async caught(timeoutMs = 20_000): Promise<Held> {
    const deadline = Date.now() + timeoutMs;
    while (!this.held.length) {
      if (Date.now() > deadline) throw new Error('no request was held in time');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
    return this.held[0];
  }

  /** Stops holding; held requests go through (applied upstream) unless `drop`. */
  open(drop = false): void {
    this.holdIf = undefined;
    for (const h of this.held.splice(0)) (drop ? h.drop : h.release)();
  }

  async close(): Promise<void> {
    this.open(true);
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }
}
