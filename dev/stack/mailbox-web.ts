// A minimal web mailbox over the sink's folder, for people: a list of received
// messages with links to their raw bytes, and switches to break the sink on
// purpose (see docs/operations.md): POST /sink/down, /sink/up,
// /sink/reject?code=421, /sink/accept. Tests read the folder directly.
import http from 'node:http';
import { HOST } from './ports.ts';
import { readMailbox, type SmtpSink } from './smtp-sink.ts';

const escape = (s: string) =>
  s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function subjectOf(raw: Buffer): string {
  const head = raw.subarray(0, 16 * 1024).toString('utf8').split(/\r?\n\r?\n/)[0] ?? '';
  const match = /^subject:\s*(.*(?:\r?\n[ \t].*)*)/im.exec(head);
  return match?.[1]?.replace(/\r?\n[ \t]/g, ' ') ?? '(no subject)';
}

export async function startMailboxWeb(sink: SmtpSink, port: number): Promise<http.Server> {
  const dir = sink.dir;
  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://mailbox');
      if (req.method === 'POST' && url.pathname.startsWith('/sink/')) {
        const action = url.pathname.slice('/sink/'.length);
        if (action === 'down') await sink.close();
        else if (action === 'up') await sink.listen();
        else if (action === 'reject') {
          const code = Number(url.searchParams.get('code') ?? '421');
          if (!(code >= 400 && code < 600)) return res.writeHead(400).end('code must be 4xx or 5xx\n');
          sink.defaultReply = { kind: 'reject', code, message: `${code} rejected by the local sink (POST /sink/accept to undo)` };
        } else if (action === 'accept') sink.defaultReply = { kind: 'accept' };
        else return res.writeHead(404).end('unknown action\n');
        return res.writeHead(200, { 'content-type': 'text/plain' }).end(`sink ${action}\n`);
      }
      const messages = await readMailbox(dir);
      const raw = /^\/messages\/(\d+)\.eml$/.exec(req.url ?? '');
      if (raw) {
        const msg = messages.find((m) => m.seq === Number(raw[1]));
        if (!msg) return res.writeHead(404).end('not found');
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
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(
        `<!doctype html><title>mailer mailbox</title><h1>Mailbox (${messages.length})</h1>` +
          `<p>Folder: <code>${escape(dir)}</code></p><table border="1" cellpadding="4">` +
          `<tr><th>#</th><th>received</th><th>from</th><th>to</th><th>subject (raw)</th></tr>${rows}</table>`,
      );
    })().catch((err: unknown) => {
      res.writeHead(500).end(String(err));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => resolve());
  });
  return server;
}
