// A real HTTP receiver for the webhook tests: records every request exactly as
// it arrived (raw body, headers, order), answers what the test scripts, and
// can go down (its port refuses connections) and come back on the same port.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedHook {
  seq: number;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The raw body, as signed. */
  body: string;
  event: { id: string; type: string; emailId: string; occurredAt: string; details: Record<string, unknown> };
}

export type HookAnswer = { status: number; headers?: Record<string, string>; body?: string };

export class WebhookReceiver {
  readonly received: ReceivedHook[] = [];
  /** What to answer each request; 204 by default. */
  answer: (hook: ReceivedHook) => HookAnswer = () => ({ status: 204 });
  private server: http.Server | undefined;
  port = 0;

  static async start(): Promise<WebhookReceiver> {
    const r = new WebhookReceiver();
    await r.up();
    return r;
  }

  url(path = '/hooks/mail'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  async up(): Promise<void> {
    if (this.server) return;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let event: ReceivedHook['event'];
        try {
          event = JSON.parse(body) as ReceivedHook['event'];
        } catch {
          res.writeHead(400).end('not JSON');
          return;
        }
        const hook: ReceivedHook = {
          seq: this.received.length + 1,
          path: req.url ?? '',
          headers: req.headers,
          body,
          event,
        };
        this.received.push(hook);
        const a = this.answer(hook);
        res.writeHead(a.status, a.headers).end(a.body ?? '');
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Down: the port refuses connections until `up()`. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Distinct events in order of first arrival. */
  events(): ReceivedHook['event'][] {
    const seen = new Set<string>();
    return this.received.filter((h) => !seen.has(h.event.id) && seen.add(h.event.id)).map((h) => h.event);
  }
}
