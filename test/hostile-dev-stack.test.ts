// What `npm start` prints and writes holds no credential a bystander can read,
// and the dev mailbox cannot be driven or read by another web site.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { banner, writeStackFile } from '../dev/stack/announce.ts';
import type { StackInfo } from '../dev/stack/index.ts';
import { startMailboxWeb } from '../dev/stack/mailbox-web.ts';
import { SmtpSink } from '../dev/stack/smtp-sink.ts';

describe('npm start: banner and stack.json', () => {
  let dir: string;
  let info: StackInfo;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mailer-announce-'));
    info = {
      temporalAddress: '127.0.0.1:7233',
      temporalNamespace: 'default',
      temporalUiUrl: 'http://127.0.0.1:8233',
      temporalKind: 'dev',
      temporalCli: 'temporal',
      temporalVersion: '1.9.1',
      databaseUrl: 'postgres://postgres:pg-secret-1@127.0.0.1:5432/mailer?sslpassword=pg-secret-2',
      smtpUrl: 'smtps://mailer:smtp-secret-3@smtp.provider.example:465',
      mailboxDir: undefined,
      mailboxUrl: undefined,
      dataDir: dir,
    };
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('masks every password in the banner', () => {
    const text = banner(info, { seconds: 4.2, taskQueue: 'email', metricsUrl: 'http://127.0.0.1:9464/metrics' });
    for (const secret of ['pg-secret-1', 'pg-secret-2', 'smtp-secret-3']) expect(text).not.toContain(secret);
    expect(text).toContain('postgres://postgres:****@127.0.0.1:5432/mailer');
    expect(text).toContain('smtps://mailer:****@smtp.provider.example:465');
  });

  it('writes stack.json readable by its owner only, also over an older world-readable copy', async () => {
    const file = path.join(dir, 'stack.json');
    await writeFile(file, '{}', { mode: 0o644 });
    const previous = process.umask(0o000);
    try {
      expect(await writeStackFile(info)).toBe(file);
    } finally {
      process.umask(previous);
    }
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    // The CLI needs the full URL from it.
    expect(JSON.parse(await readFile(file, 'utf8')).databaseUrl).toBe(info.databaseUrl);
  });
});

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}
function request(port: number, method: string, url: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: url, headers, setHost: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('dev mailbox', () => {
  let dir: string;
  let sink: SmtpSink;
  let web: http.Server;
  let port: number;
  let own: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mailer-mailbox-'));
    sink = await SmtpSink.start({ dir });
    web = await startMailboxWeb(sink, 0);
    port = (web.address() as { port: number }).port;
    own = `127.0.0.1:${port}`;
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: sink.port,
      secure: false,
      ignoreTLS: true,
    });
    await transport.sendMail({
      from: 'a@example.com',
      to: 'b@example.com',
      subject: '<script>alert(1)</script>',
      html: '<script>alert(2)</script>',
    });
    transport.close();
  });
  afterAll(async () => {
    await new Promise<void>((r) => web?.close(() => r()));
    await sink?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const REFUSED: [string, string, string, Record<string, string>, number][] = [
    ['a rebound host name reading the list', 'GET', '/messages.json', { host: 'evil.example:PORT' }, 421],
    ['a rebound host name reading a message', 'GET', '/messages/1.eml', { host: 'evil.example:PORT' }, 421],
    ['a rebound host name switching the sink off', 'POST', '/sink/down', { host: 'evil.example:PORT' }, 421],
    ['a subdomain of localhost', 'GET', '/', { host: 'evil.localhost:PORT' }, 421],
    ['the right address on another port', 'GET', '/', { host: '127.0.0.1:1' }, 421],
    [
      'a cross-site form switching the sink off',
      'POST',
      '/sink/down',
      { host: 'OWN', origin: 'https://evil.example' },
      403,
    ],
    [
      'a sandboxed frame (Origin: null) making the sink reject',
      'POST',
      '/sink/reject?code=550',
      { host: 'OWN', origin: 'null' },
      403,
    ],
    ['a cross-site request without Origin', 'POST', '/sink/down', { host: 'OWN', 'sec-fetch-site': 'cross-site' }, 403],
    ['an https look-alike of its own origin', 'POST', '/sink/down', { host: 'OWN', origin: 'https://OWN' }, 403],
    ['a reply code that is not 4xx/5xx', 'POST', '/sink/reject?code=250', { host: 'OWN' }, 400],
    ['a reply code that is not whole', 'POST', '/sink/reject?code=450.5', { host: 'OWN' }, 400],
    ['a PUT', 'PUT', '/messages.json', { host: 'OWN' }, 405],
  ];

  it.each(REFUSED.map(([name, ...rest]) => [name, rest] as const))(
    'refuses %s',
    async (_name, [method, url, headers, status]) => {
      // OWN and PORT stand for the mailbox's address and port, known once it listens.
      const resolved = Object.fromEntries(
        Object.entries(headers).map(([k, v]) => [k, v.replace('OWN', own).replace('PORT', String(port))]),
      );
      const answer = await request(port, method, url, resolved);
      expect(answer.status).toBe(status);
      expect(answer.headers['x-content-type-options']).toBe('nosniff');
      expect(answer.body).not.toContain('b@example.com');
      // The sink was not touched.
      expect(sink.defaultReply).toEqual({ kind: 'accept' });
      expect((await request(port, 'GET', '/messages.json', { host: own })).status).toBe(200);
    },
  );

  it('takes the switches from its own page and from curl', async () => {
    expect((await request(port, 'POST', '/sink/reject?code=451', { host: own, origin: `http://${own}` })).status).toBe(
      200,
    );
    expect(sink.defaultReply).toMatchObject({ kind: 'reject', code: 451 });
    expect((await request(port, 'POST', '/sink/accept', { host: `localhost:${port}` })).status).toBe(200);
    expect(sink.defaultReply).toEqual({ kind: 'accept' });
  });

  it('serves raw mail as inert text and escapes what it shows', async () => {
    const raw = await request(port, 'GET', '/messages/1.eml', { host: own });
    expect(raw.status).toBe(200);
    expect(raw.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(raw.headers['x-content-type-options']).toBe('nosniff');
    expect(raw.headers['content-security-policy']).toContain("default-src 'none'");
    const page = await request(port, 'GET', '/', { host: own });
    expect(page.body).not.toContain('<script>');
    expect(page.body).toContain('&#60;script&#62;alert(1)');
    const traversal = await request(port, 'GET', '/messages/../../../etc/passwd', { host: own });
    expect(traversal.body).not.toMatch(/root:.*:0:0:/);
  });
});
