// Inputs send() must refuse, each a complete valid email with exactly one thing
// wrong, plus the field and reason the ValidationError has to name. Shared by
// the pure validation tests and the end-to-end pipeline tests, so every case
// works with DEFAULT_LIMITS.

const MiB = 1024 * 1024;
// A 1x1 transparent PNG.
const LOGO_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';

function validInput() {
  return {
    from: 'Acme Billing <billing@Mail.Example.COM>',
    to: [{ name: 'Ada Lovelace', address: 'Ada.Lovelace@Example.ORG' }, 'bob@example.net'],
    cc: 'Carol Jones <carol+invoices@example.com>',
    bcc: ['audit@example.com'],
    replyTo: 'support@example.com',
    subject: 'Your invoice #1024',
    text: 'Hello Ada,\r\nyour invoice is attached.\n',
    html: '<p>Hello Ada,</p><p>your invoice is attached.</p><img src="cid:logo@acme">',
    headers: { 'x-entity-ref-id': 'invoice-1024' },
    attachments: [
      {
        filename: 'invoice-1024.pdf',
        content: Buffer.from('%PDF-1.4 not really a pdf\n'),
        contentType: 'application/pdf',
      },
      { filename: 'logo.png', content: LOGO_BASE64, encoding: 'base64', contentType: 'image/png', cid: 'logo@acme' },
    ] as Record<string, unknown>[],
  };
}

export const VALID_INPUT = validInput();

export interface BadInput {
  name: string;
  input: unknown;
  field: string;
  reason: RegExp;
}

type Editable = Record<string, any>;
function bad(name: string, field: string, reason: RegExp, change: (input: Editable) => void): BadInput {
  const input: Editable = validInput();
  change(input);
  return { name, input, field, reason };
}
const setTo = (address: unknown) => (i: Editable) => {
  i.to = ['ok@example.com', address];
};

const NINE_MIB = Buffer.alloc(9 * MiB, 0x61);
const ADDRESS = /is not a valid email address/;

export const BAD_INPUTS: BadInput[] = [
  // addresses
  bad('malformed address (unclosed angle bracket)', 'to[1]', ADDRESS, setTo('Bob <bob@example.com')),
  bad('address without @', 'to[1]', /missing "@"/, setTo('bob.example.com')),
  bad('address with two @', 'to[1]', /more than one "@"/, setTo('bob@evil.com@example.com')),
  bad(
    'quoted local part that could route elsewhere',
    'to[1]',
    /quoted local parts are not accepted/,
    setTo('"victim@evil.com"@good.com'),
  ),
  bad('comment inside the address', 'to[1]', /comments/, setTo('a(comment)@example.com')),
  bad('comment after the address', 'to[1]', /comments/, setTo('a@example.com(evil.com)')),
  bad('source route', 'to[1]', /source routes/, setTo('<@evil.com:bob@example.com>')),
  bad('source route in object form', 'to[1].address', /source routes/, setTo({ address: '@evil.com:bob@example.com' })),
  bad('percent routing', 'to[1]', /'%' and '!'/, setTo('bob%evil.com@example.com')),
  bad('bang routing', 'cc', /'%' and '!'/, (i) => {
    i.cc = 'evil.com!bob@example.com';
  }),
  bad('unicode local part', 'to[1]', /non-ASCII/, setTo('jürgen@example.com')),
  bad('IDN domain', 'to[1]', /xn--/, setTo('info@bücher.de')),
  bad('IP literal', 'to[1]', /IP address/, setTo('bob@[192.168.0.1]')),
  bad('group in one entry', 'to[1]', /exactly one address/, setTo('friends: a@example.com, b@example.com;')),
  bad('comma list in one entry', 'bcc[0]', /exactly one address/, (i) => {
    i.bcc = ['a@example.com, b@example.com'];
  }),
  bad('single-label domain', 'replyTo', /at least two labels/, (i) => {
    i.replyTo = 'support@localhost';
  }),
  bad('domain label starting with a hyphen', 'to[1]', /domain label "-example"/, setTo('bob@-example.com')),
  bad('double dot in local part', 'to[1]', /two dots/, setTo('bob..smith@example.com')),
  bad('unquoted @ in display name', 'from', /must be quoted/, (i) => {
    i.from = 'billing@bank.com <attacker@example.com>';
  }),
  bad('LF in from display name', 'from', /line break/, (i) => {
    i.from = 'Billing\nBcc: victim@example.com <billing@example.com>';
  }),
  bad('LF in object display name', 'from.name', /line break/, (i) => {
    i.from = { name: 'Billing\nBcc: victim@example.com', address: 'billing@example.com' };
  }),
  bad('overlong display name', 'to[0].name', /longer than 200/, (i) => {
    i.to[0].name = 'A'.repeat(201);
  }),
  bad('wrong type for to', 'to', /expected an address string/, (i) => {
    i.to = 42;
  }),
  bad('wrong type inside the to list', 'to[1]', /expected an address string/, setTo(42)),
  bad('empty to list', 'to', /at least one address/, (i) => {
    i.to = [];
  }),
  bad('missing from', 'from', /is required/, (i) => {
    delete i.from;
  }),
  bad('too many recipients', 'to', /too many recipients.*at most 50/, (i) => {
    i.to = Array.from({ length: 51 }, (_, n) => `user${n}@example.com`);
    delete i.cc;
    delete i.bcc;
  }),
  // subject, bodies, headers
  bad('CR/LF in subject', 'subject', /line break/, (i) => {
    i.subject = 'Invoice\r\nBcc: victim@example.com';
  }),
  bad('NUL in subject', 'subject', /NUL/, (i) => {
    i.subject = 'Invoice\0';
  }),
  bad('other control character in subject', 'subject', /control character \(U\+001B\)/, (i) => {
    i.subject = 'Invoice\x1b[31m';
  }),
  bad('lone surrogate in subject', 'subject', /invalid Unicode \(lone surrogate\)/, (i) => {
    i.subject = 'Invoice \uD800';
  }),
  bad('subject as Buffer', 'subject', /expected a string, not a Buffer/, (i) => {
    i.subject = Buffer.from('Invoice');
  }),
  bad('overlong subject', 'subject', /longer than 255 characters/, (i) => {
    i.subject = 'x'.repeat(256);
  }),
  bad('empty subject', 'subject', /must not be empty/, (i) => {
    i.subject = '   ';
  }),
  bad('neither text nor html', 'text', /text or html body is required/, (i) => {
    delete i.text;
    delete i.html;
  }),
  bad('empty text only', 'text', /must not be empty/, (i) => {
    i.text = '';
    delete i.html;
  }),
  bad('NUL in html', 'html', /NUL/, (i) => {
    i.html = '<p>a\0b</p>';
  }),
  bad('oversize text body', 'text', /larger than 1 MiB/, (i) => {
    i.text = 'x'.repeat(MiB + 1);
  }),
  bad('CRLF in header value', 'headers.X-Campaign', /line break/, (i) => {
    i.headers = { 'X-Campaign': 'spring\r\nBcc: victim@example.com' };
  }),
  bad('header not in allowlist', 'headers.Bcc', /not an allowed header/, (i) => {
    i.headers = { Bcc: 'victim@example.com' };
  }),
  bad('header name with CRLF', 'headers.X-Evil\\r\\nBcc', /not an allowed header/, (i) => {
    i.headers = { 'X-Evil\r\nBcc': 'victim@example.com' };
  }),
  bad('same header twice in different case', 'headers.x-tag', /given twice/, (i) => {
    i.headers = { 'X-Tag': 'a', 'x-tag': 'b' };
  }),
  bad('overlong header value', 'headers.x-entity-ref-id', /longer than 900 characters/, (i) => {
    i.headers['x-entity-ref-id'] = 'x'.repeat(901);
  }),
  bad('non-string header value', 'headers.x-entity-ref-id', /expected a string/, (i) => {
    i.headers['x-entity-ref-id'] = 1024;
  }),
  bad('unknown top-level field', 'sender', /unknown field/, (i) => {
    i.sender = 'bounce@example.com';
  }),
  // attachments
  bad('oversize attachment', 'attachments[0].content', /larger than 10 MiB/, (i) => {
    i.attachments[0].content = Buffer.alloc(10 * MiB + 1);
  }),
  bad('oversize message in total', 'attachments', /over the 25 MiB limit/, (i) => {
    i.attachments = ['a', 'b', 'c'].map((n) => ({ filename: `${n}.bin`, content: NINE_MIB }));
  }),
  bad('too many attachments', 'attachments', /more than 20 attachments/, (i) => {
    i.attachments = Array.from({ length: 21 }, (_, n) => ({ filename: `f${n}.txt`, content: 'x', encoding: 'utf8' }));
  }),
  bad('attachment with path', 'attachments[0].path', /must be given as content/, (i) => {
    i.attachments[0] = { filename: 'passwd', path: '/etc/passwd' };
  }),
  bad('attachment with href', 'attachments[0].href', /must be given as content/, (i) => {
    i.attachments[0] = { filename: 'x.pdf', href: 'https://example.com/x.pdf' };
  }),
  bad('attachment with raw', 'attachments[1].raw', /must be given as content/, (i) => {
    i.attachments[1].raw = 'Content-Type: text/plain\r\n\r\nhi';
  }),
  bad('attachment content file: URL without encoding', 'attachments[0].content', /looks like a path or URL/, (i) => {
    i.attachments[0].content = 'file:///etc/passwd';
  }),
  bad('attachment content https URL without encoding', 'attachments[0].content', /looks like a path or URL/, (i) => {
    i.attachments[0].content = 'https://example.com/x';
  }),
  bad(
    'attachment content absolute path without encoding',
    'attachments[0].content',
    /looks like a path or URL/,
    (i) => {
      i.attachments[0].content = '/etc/shadow';
    },
  ),
  bad('cid collision', 'attachments[1].cid', /duplicates the content-id of attachments\[0\]/, (i) => {
    i.attachments[0].cid = 'logo@acme';
  }),
  bad('invalid cid', 'attachments[1].cid', /1-128 characters/, (i) => {
    i.attachments[1].cid = 'logo acme';
  }),
  bad('filename with /', 'attachments[0].filename', /must not contain "\/"/, (i) => {
    i.attachments[0].filename = '../../etc/cron.d/evil';
  }),
  bad('filename with CRLF', 'attachments[0].filename', /line break/, (i) => {
    i.attachments[0].filename = 'a.pdf\r\nContent-Type: text/html';
  }),
  bad('invalid base64', 'attachments[1].content', /not valid base64/, (i) => {
    i.attachments[1].content = 'not base64!';
  }),
  bad('unknown encoding', 'attachments[1].encoding', /'base64' or 'utf8'/, (i) => {
    i.attachments[1].encoding = 'hex';
  }),
  bad('contentType with parameters', 'attachments[0].contentType', /MIME type/, (i) => {
    i.attachments[0].contentType = 'text/html; charset=utf-8';
  }),
  bad('content of the wrong type', 'attachments[0].content', /expected a Buffer, a Uint8Array or a string/, (i) => {
    i.attachments[0].content = 42;
  }),
  // messages that would break in transit or smuggle structure
  bad('bare CR in the text body (breaks DKIM in transit)', 'text', /bare CR/, (i) => {
    i.text = 'line one\rline two';
  }),
  bad('bare CR in the html body', 'html', /bare CR/, (i) => {
    i.html = '<p>a</p>\r<p>b</p>';
  }),
  bad(
    'message/rfc822 attachment (sent unencoded)',
    'attachments[0].contentType',
    /not an accepted attachment type/,
    (i) => {
      i.attachments[0].contentType = 'message/rfc822';
    },
  ),
  bad('multipart attachment type', 'attachments[0].contentType', /not an accepted attachment type/, (i) => {
    i.attachments[0].contentType = 'multipart/mixed';
  }),
  bad('made-up top-level attachment type', 'attachments[1].contentType', /not an accepted attachment type/, (i) => {
    i.attachments[1].contentType = 'x-evil/thing';
  }),
  bad('right-to-left override in a filename', 'attachments[0].filename', /bidirectional override/, (i) => {
    i.attachments[0].filename = 'invoice\u202Efdp.exe';
  }),
  bad('right-to-left override in the subject', 'subject', /bidirectional override/, (i) => {
    i.subject = 'Invoice \u202Etxet';
  }),
  bad('bidi isolate in a display name', 'from', /bidirectional override or isolate \(U\+2066\)/, (i) => {
    i.from = 'Billing\u2066 <billing@example.com>';
  }),
  bad('C1 control (NEL) in the subject', 'subject', /C1 control character \(U\+0085\)/, (i) => {
    i.subject = 'Invoice\u0085Bcc: x';
  }),
  bad('C1 control in an object display name', 'to[0].name', /C1 control/, (i) => {
    i.to[0].name = 'Ada\u009bLovelace';
  }),
  bad('Unicode line separator in the subject', 'subject', /line or paragraph separator/, (i) => {
    i.subject = 'Invoice\u2028Bcc: x';
  }),
  bad('encoded word decoding to CRLF + Bcc in the subject', 'subject', /RFC 2047 encoded word/, (i) => {
    i.subject = '=?utf-8?q?Hi=0D=0ABcc:_victim@evil.example?=';
  }),
  bad('base64 encoded word in a quoted display name', 'from', /RFC 2047 encoded word/, (i) => {
    i.from = '"=?UTF-8?B?QmlsbGluZw0KQmNjOiB4?=" <billing@example.com>';
  }),
  bad('encoded word in a filename', 'attachments[0].filename', /RFC 2047 encoded word/, (i) => {
    i.attachments[0].filename = '=?utf-8?q?a=2Eexe?=';
  }),
  bad('encoded word in a header value', 'headers.X-Campaign', /RFC 2047 encoded word/, (i) => {
    i.headers = { 'X-Campaign': '=?utf-8?q?x=0ABcc:_y?=' };
  }),
  bad('__proto__ header (dropped by a plain-object parser)', 'headers.__proto__', /not an allowed header/, (i) => {
    i.headers = JSON.parse('{"__proto__": "x", "X-Tag": "y"}');
  }),
  bad('more header entries than allowed names', 'headers', /more than 9 entries/, (i) => {
    i.headers = Object.fromEntries(Array.from({ length: 10 }, (_, n) => [`X-Tag-${n}`, 'v']));
  }),
  bad(
    '254-character address (SMTP servers refuse it)',
    'to[1]',
    /longer than 253 characters/,
    setTo(`${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(57)}.com`),
  ),
  bad('100 000 recipients', 'to', /too many recipients/, (i) => {
    i.to = Array.from({ length: 100_000 }, (_, n) => `user${n}@example.com`);
  }),
  bad('51 reply-to addresses', 'replyTo', /more than 50 addresses/, (i) => {
    i.replyTo = Array.from({ length: 51 }, (_, n) => `r${n}@example.com`);
  }),
  bad('16 MiB of base64 (over 10 MiB decoded)', 'attachments[1].content', /larger than 10 MiB/, (i) => {
    i.attachments[1].content = 'QUFB'.repeat(4 * MiB);
  }),
  bad('oversize utf8 string attachment', 'attachments[0].content', /larger than 10 MiB/, (i) => {
    i.attachments[0] = { filename: 'a.txt', content: 'a'.repeat(10 * MiB + 1), encoding: 'utf8' };
  }),
];

/** sendAt values send() must refuse (the send options, not the email). */
export const BAD_SEND_AT: [string, Date | string][] = [
  ['a date in year 9999 (past the horizon)', '9999-01-01T00:00:00Z'],
  ['two years ahead', new Date(Date.now() + 2 * 366 * 86_400_000)],
  ['year 0000', '0000-01-01T00:00:00Z'],
  ['a Date before year 1', new Date(Date.UTC(-5, 0, 1))],
  ['before 1970', '1969-12-31T23:59:59Z'],
];
