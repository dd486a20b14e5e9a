// Hostile input that is accepted must be delivered harmlessly: through the real
// worker, DKIM-signed, to the real SMTP sink, each case arrives as exactly one
// message to exactly its recipients, with SMTP-safe bytes (no NUL, no bare CR
// or LF, no line over 998 octets), a signature that still verifies at the
// receiver, and the content the caller gave, byte for byte.
import { generateKeyPairSync } from 'node:crypto';
import { simpleParser } from 'mailparser';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, outcome, type TestEnv } from './helpers.ts';
import type { EmailInput } from '../src/index.ts';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const dnsValue = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;
const resolver = async (name: string, type: string) => {
  if (type === 'TXT' && name === 'hostile._domainkey.acme.example') return [[dnsValue]];
  throw Object.assign(new Error(`no ${type} for ${name}`), { code: 'ENOTFOUND' });
};

const ALL_BYTES = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
const SMUGGLE =
  'Hello\r\n.\r\nMAIL FROM:<evil@evil.example>\r\nRCPT TO:<victim@evil.example>\r\nDATA\r\nSubject: smuggled\r\n\r\nowned\r\n.\r\n';

interface Case {
  name: string;
  input: Record<string, unknown>;
  check?: (mail: Awaited<ReturnType<typeof simpleParser>>) => void;
}
const c = (name: string, input: Record<string, unknown>, check?: Case['check']): Case => ({
  name,
  input,
  ...(check ? { check } : {}),
});

const CASES: Case[] = [
  c('SMTP smuggling with CRLF.CRLF in the text', { text: SMUGGLE }),
  c('SMTP smuggling with bare-LF dots in the text', {
    text: 'Hello\n.\nMAIL FROM:<evil@evil.example>\nRCPT TO:<victim@evil.example>\n.\n',
  }),
  c('a dot alone on the first line', { text: '.\r\nnext' }),
  c('a 2000-character line in the text', { text: 'x'.repeat(2000) }),
  c('a 5000-character line in the html', { html: `<p>${'y'.repeat(5000)}</p>` }),
  c('a 1 MiB single-line text (the limit)', { text: 'z'.repeat(1024 * 1024) }),
  c('an mbox "From " line at the start', { text: 'From evil@evil.example Mon Jan  1 00:00:00 2026\nbody' }),
  c('header-like lines in the body', { text: 'Bcc: victim@evil.example\r\nSubject: fake\r\n\r\nreal text' }),
  c('bidi and C1 controls in the body (allowed there)', { text: 'abc \u202Edef \u0085 ghi \u2028 jkl' }),
  c('script and javascript: links in the html', {
    html: '<script>alert(1)</script><a href="javascript:alert(2)">x</a><img src=x onerror=alert(3)>',
  }),
  c('right-to-left text with a mark in the subject', { subject: 'שלום \u200Fעולם 123' }),
  c('emoji and astral characters in the subject', { subject: 'Deals 😀𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🎉' }),
  c('a 255-character multi-byte subject', { subject: 'Ünï'.repeat(85) }),
  c('"=?" that is not an encoded word in the subject', { subject: 'What does =? mean? a=?b' }),
  c(
    'specials in a quoted display name',
    { from: '"Acme, Inc. <billing@evil.example>; x" <billing@acme.example>' },
    (m) => {
      expect(m.from?.value).toEqual([
        { name: 'Acme, Inc. <billing@evil.example>; x', address: 'billing@acme.example' },
      ]);
    },
  ),
  c('a non-ASCII display name', { from: { name: 'Zoë Ünïcødé', address: 'billing@acme.example' } }, (m) => {
    expect(m.from?.value[0]?.name).toBe('Zoë Ünïcødé');
  }),
  c(
    'an allowed header with colons, semicolons and a fake Bcc',
    { headers: { 'X-Campaign': 'spring: sale; Bcc: victim@evil.example' } },
    (m) => {
      expect(m.headers.get('x-campaign')).toBe('spring: sale; Bcc: victim@evil.example');
      expect(m.headers.has('bcc')).toBe(false);
    },
  ),
  c('List-Unsubscribe with mailto and https', {
    headers: {
      'List-Unsubscribe': '<mailto:unsub@acme.example?subject=unsubscribe>, <https://acme.example/u?id=1&t=2>',
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    },
  }),
  c('a text attachment with NUL bytes and a 2000-octet line', {
    attachments: [
      {
        filename: 'nul.txt',
        contentType: 'text/plain',
        content: Buffer.concat([Buffer.from('a\0b\0'), Buffer.alloc(2000, 0x41)]),
      },
    ],
  }),
  c('every byte value in an octet-stream attachment', { attachments: [{ filename: 'bytes.bin', content: ALL_BYTES }] }),
  c('a filename with umlauts and spaces', {
    attachments: [{ filename: 'Rechnung März 2026.pdf', contentType: 'application/pdf', content: Buffer.from('%PDF') }],
  }),
  c(
    'a filename with quotes and semicolons',
    { attachments: [{ filename: 'a";filename="evil.exe', content: Buffer.from('x') }] },
    (m) => {
      expect(m.attachments.map((a) => a.filename)).toEqual(['a";filename="evil.exe']);
    },
  ),
  c(
    'an html attachment (delivered as a file, not as the body)',
    {
      attachments: [
        { filename: 'page.html', contentType: 'text/html', content: Buffer.from('<script>alert(1)</script>') },
      ],
    },
    (m) => {
      expect(m.text?.trim()).toBe('Hello');
    },
  ),
  c(
    'an inline image referenced by cid',
    {
      html: '<p>logo</p>',
      attachments: [
        { filename: 'logo.png', contentType: 'image/png', cid: 'logo@acme', content: ALL_BYTES.subarray(0, 64) },
      ],
    },
    (m) => {
      expect(m.attachments[0]?.cid).toBe('logo@acme');
    },
  ),
  c(
    '50 recipients, the most allowed, most of them in bcc',
    {
      cc: Array.from({ length: 9 }, (_, n) => `cc${n}@example.org`),
      bcc: Array.from({ length: 40 }, (_, n) => `bcc${n}@example.org`),
    },
    (m) => {
      expect(m.headers.has('bcc')).toBe(false);
    },
  ),
];

/** Every line of the raw message is SMTP-safe. */
function expectSmtpSafe(raw: Buffer): void {
  expect(raw.includes(0)).toBe(false);
  const text = raw.toString('latin1');
  expect(/\r(?!\n)|(?<!\r)\n/.test(text)).toBe(false);
  expect(Math.max(...text.split('\r\n').map((l) => l.length))).toBeLessThanOrEqual(998);
}

describe('hostile but valid input is delivered harmlessly', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({
      DKIM_DOMAIN: 'acme.example',
      DKIM_SELECTOR: 'hostile',
      DKIM_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    });
    await env.startWorker();
  });
  afterAll(() => env?.close());

  it.each(CASES.map((k, i) => [k.name, k, i] as const))('%s', async (_name, k, i) => {
    const to = `hostile-${i}@example.com`;
    const input: Record<string, unknown> = {
      from: 'billing@acme.example',
      to,
      subject: `Case ${i}`,
      text: 'Hello',
      ...k.input,
    };
    const sent = await env.client.send(input as unknown as EmailInput);
    expect(await outcome(env, sent.workflowId)).toEqual({ status: 'sent' });
    const received = env.sink.messages.filter((m) => m.rcptTo.includes(to));
    expect(received).toHaveLength(1);
    const message = received[0]!;
    const expected = [
      to,
      ...((input.cc as string[] | undefined) ?? []),
      ...((input.bcc as string[] | undefined) ?? []),
    ];
    expect([...message.rcptTo].sort()).toEqual([...expected].sort());
    expectSmtpSafe(message.raw);
    const dkim = await dkimVerify(message.raw, { resolver });
    expect(dkim.results.map((r) => r.status.result)).toEqual(['pass']);

    const mail = await simpleParser(message.raw);
    expect(mail.subject).toBe(input.subject);
    if (typeof input.text === 'string')
      expect(mail.text?.replace(/\r\n/g, '\n').replace(/\n$/, '')).toBe(
        input.text.replace(/\r\n/g, '\n').replace(/\n$/, ''),
      );
    if (typeof input.html === 'string') expect(mail.html).toContain(input.html.replace(/^<p>|<\/p>$/g, ''));
    const attachments = (input.attachments as { filename: string; content: Buffer }[] | undefined) ?? [];
    expect(mail.attachments.map((a) => [a.filename, a.content.toString('hex')])).toEqual(
      attachments.map((a) => [a.filename, a.content.toString('hex')]),
    );
    k.check?.(mail);
  });

  it('nothing was smuggled: one message per case, every record sent, nothing for an injected address', async () => {
    expect(env.sink.messages).toHaveLength(CASES.length);
    expect(env.sink.messages.flatMap((m) => m.rcptTo).filter((r) => r.includes('evil.example'))).toEqual([]);
    const { rows } = await env.pool.query('SELECT status, count(*)::int AS n FROM mailer.emails GROUP BY status');
    expect(rows).toEqual([{ status: 'sent', n: CASES.length }]);
  });
});
