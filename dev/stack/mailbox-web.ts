// A minimal web mailbox over the sink's folder, for people: a list of received
// messages with links to their raw bytes, and switches to break the sink on
// purpose (see docs/operations.md): POST /sink/down, /sink/up,
// /sink/reject?code=421, /sink/accept. Tests read the folder directly.
//
// It listens on 127.0.0.1 but a browser on this machine is a way in, so it
// answers only requests addressed to it by name (a DNS-rebound name would read
// the mail), takes the switches only from its own pages or from tools that send
// no Origin (curl), and serves raw mail as inert text.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HOST } from './ports.ts';
import { readMailbox, type SmtpSink } from './smtp-sink.ts';

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function subjectOf(raw: Buffer): string {
  const head =
    raw
      .subarray(0, 16 * 1024)
      .toString('utf8')
      .split(/\r?\n\r?\n/)[0] ?? '';
  const match = /^subject:\s*(.*(?:\r?\n[ \t].*)*)/im.exec(head);
  return match?.[1]?.replace(/\r?\n[ \t]/g, ' ') ?? '(no subject)';
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/** The names this server answers to: loopback by address or as localhost, on its own port. */
function ownHosts(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
}

export async function startMailboxWeb(sink: SmtpSink, port: number): Promise<http.Server> {
  const dir = sink.dir;
  const server = http.createServer((req, res) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    const plain = (status: number, text: string) =>
      void res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(`${text}\n`);
    const hosts = ownHosts((server.address() as AddressInfo).port);
    if (!hosts.has((req.headers.host ?? '').toLowerCase()))
      return plain(421, 'this mailbox answers only to 127.0.0.1, localhost or [::1] on its own port');
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://mailbox');
      if (req.method === 'POST' && url.pathname.startsWith('/sink/')) {
        const origin = req.headers.origin;
        const crossSite =
          req.headers['sec-fetch-site'] === 'cross-site' || req.headers['sec-fetch-site'] === 'same-site';
        if (crossSite || (origin !== undefined && !hosts.has(origin.replace(/^http:\/\//, '')))) {
          return plain(
            403,
            'the sink switches take requests from this mailbox or from tools without an Origin (curl) only',
          );
        }
        const action = url.pathname.slice('/sink/'.length);
        if (action === 'down') await sink.close();
        else if (action === 'up') await sink.listen();
        else if (action === 'reject') {
          const code = Number(url.searchParams.get('code') ?? '421');
          if (!Number.isInteger(code) || code < 400 || code > 599) return plain(400, 'code must be 4xx or 5xx');
          sink.defaultReply = {
            kind: 'reject',
            code,
            message: `${code} rejected by the local sink (POST /sink/accept to undo)`,
          };
        } else if (action === 'accept') sink.defaultReply = { kind: 'accept' };
        else return plain(404, 'unknown action');
        return plain(200, `sink ${action}`);
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') return plain(405, 'GET the mailbox, POST /sink/… only');
      const messages = await readMailbox(dir);
      const raw = /^\/messages\/(\d+)\.eml$/.exec(req.url ?? '');
      if (raw) {
        const msg = messages.find((m) => m.seq === Number(raw[1]));
        if (!msg) return plain(404, 'not found');
        // Raw mail is text to look at, never a page to run (nosniff and the CSP above).
        return res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(msg.raw);
      }
      if (req.url === '/messages.json') {
        const list = messages.map(({ raw: body, ...m }) => ({ ...m, subject: subjectOf(body) }));
        return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(list));
      }
      const rows = messages
        .reverse()
        .map(
          (m) =>
            `<tr><td>${m.seq}</td><td>${escape(m.receivedAt)}</td><td>${escape(m.mailFrom)}</td>` +
            `<td>${escape(m.rcptTo.join(', '))}</td><td><a href="/messages/${m.seq}.eml">${escape(subjectOf(m.raw))}</a></td></tr>`,
        )
        .join('\n');
      res
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        .end(
          `<!doctype html><title>mailer mailbox</title><h1>Mailbox (${messages.length})</h1>` +
            `<p>Folder: <code>${escape(dir)}</code></p><table border="1" cellpadding="4">` +
            `<tr><th>#</th><th>received</th><th>from</th><th>to</th><th>subject (raw)</th></tr>${rows}</table>`,
        );
    })().catch(() => {
      if (!res.headersSent) plain(500, 'the mailbox folder could not be read');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => resolve());
  });
  return server;
}
