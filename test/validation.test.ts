// Pure unit tests of the send() input validation: no servers involved.
import { createHash } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import {
  ALLOWED_HEADERS,
  DEFAULT_LIMITS,
  formatAddress,
  payloadHash,
  SEND_AT_HORIZON_DAYS,
  validateIdempotencyKey,
  validateSendAt,
  validateSendInput,
  ValidationError,
  type Limits,
  type NormalizedEmail,
} from '../src/email/validation.ts';
import { BAD_INPUTS, BAD_SEND_AT, VALID_INPUT } from './bad-inputs.ts';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function refusal(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return e as ValidationError;
  }
  throw new Error('expected a ValidationError, but nothing was thrown');
}

// A fresh copy of VALID_INPUT with some fields replaced (attachments copied, so edits don't leak).
function variant(changes: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...VALID_INPUT, attachments: VALID_INPUT.attachments.map((a) => ({ ...a })), ...changes };
}

describe('BAD_INPUTS', () => {
  it('has enough distinct cases', () => {
    expect(BAD_INPUTS.length).toBeGreaterThanOrEqual(32);
    expect(new Set(BAD_INPUTS.map((c) => c.name)).size).toBe(BAD_INPUTS.length);
  });

  it.each(BAD_INPUTS.map((c) => [c.name, c] as const))('refuses %s', (_name, c) => {
    const error = refusal(() => validateSendInput(c.input));
    expect({ field: error.field, reason: error.reason }).toEqual({
      field: c.field,
      reason: expect.stringMatching(c.reason),
    });
    expect(error.message).toBe(`${c.field}: ${error.reason}`);
    expect(error.name).toBe('ValidationError');
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.issues[0]).toEqual({ field: error.field, reason: error.reason });
  });
});

describe('validateSendInput', () => {
  it('normalises VALID_INPUT', () => {
    const email = validateSendInput(VALID_INPUT);
    expect(email.from).toEqual({ name: 'Acme Billing', address: 'billing@mail.example.com' });
    expect(email.to).toEqual([
      { name: 'Ada Lovelace', address: 'Ada.Lovelace@example.org' },
      { address: 'bob@example.net' },
    ]);
    expect(email.cc).toEqual([{ name: 'Carol Jones', address: 'carol+invoices@example.com' }]);
    expect(email.bcc).toEqual([{ address: 'audit@example.com' }]);
    expect(email.replyTo).toEqual([{ address: 'support@example.com' }]);
    expect(email.subject).toBe(VALID_INPUT.subject);
    expect(email.text).toBe(VALID_INPUT.text);
    expect(email.html).toBe(VALID_INPUT.html);
    expect(email.headers).toEqual({ 'X-Entity-Ref-ID': 'invoice-1024' });

    const [pdf, logo] = email.attachments;
    const pdfBytes = VALID_INPUT.attachments[0]?.content as Buffer;
    const logoBytes = Buffer.from(VALID_INPUT.attachments[1]?.content as string, 'base64');
    expect(pdf).toEqual({
      filename: 'invoice-1024.pdf',
      contentType: 'application/pdf',
      content: pdfBytes,
      size: pdfBytes.length,
      checksum: sha256(pdfBytes),
      cid: null,
    });
    expect(logo).toEqual({
      filename: 'logo.png',
      contentType: 'image/png',
      content: logoBytes,
      size: 68,
      checksum: sha256(logoBytes),
      cid: 'logo@acme',
    });
    expect(logoBytes.subarray(1, 4).toString()).toBe('PNG');
  });

  it('fills in defaults and accepts the other content forms', () => {
    const email = validateSendInput({
      from: 'a@example.com',
      to: 'b@example.com',
      subject: 'Hi',
      html: '<p>Hi</p>',
      attachments: [
        { filename: 'a.bin', content: new Uint8Array([1, 2, 3]) },
        { filename: 'urls.txt', content: 'https://example.com/x', encoding: 'utf8' },
        { filename: 'notes.txt', content: 'line one\nfile:///not/a/path', contentType: 'TEXT/Plain' },
      ],
    });
    expect(email).toMatchObject({ cc: [], bcc: [], replyTo: [], text: null, headers: {} });
    expect(email.to).toEqual([{ address: 'b@example.com' }]);
    const [bin, urls, notes] = email.attachments;
    expect(Buffer.isBuffer(bin?.content)).toBe(true);
    expect(bin).toMatchObject({ contentType: 'application/octet-stream', size: 3, cid: null });
    expect(urls?.content.toString()).toBe('https://example.com/x');
    expect(notes?.contentType).toBe('text/plain');
  });

  it('accepts quoted display names and keeps the local part as given', () => {
    const email = validateSendInput(variant({ from: '"Acme, Inc. (Billing)" <Billing.Dept@EXAMPLE.com>' }));
    expect(email.from).toEqual({ name: 'Acme, Inc. (Billing)', address: 'Billing.Dept@example.com' });
  });

  it('reports every issue, the first one in the message', () => {
    const error = refusal(() => validateSendInput(variant({ subject: '', text: 'ok', to: 'nope' })));
    expect(error.issues.map((i) => i.field).sort()).toEqual(['subject', 'to']);
    expect(error.message).toBe(`${error.issues[0]?.field}: ${error.issues[0]?.reason}`);
  });

  it('puts an unknown attachment source first, before the missing content it causes', () => {
    const error = refusal(() =>
      validateSendInput(variant({ attachments: [{ filename: 'x', url: 'https://example.com/x' }] })),
    );
    expect(error.field).toBe('attachments[0].url');
    expect(error.issues.map((i) => i.field)).toContain('attachments[0].content');
  });

  it('refuses something that is not an object', () => {
    for (const input of [null, undefined, 'a@b.com', [VALID_INPUT]]) {
      expect(refusal(() => validateSendInput(input)).field).toBe('input');
    }
  });

  it('uses the limits it is given', () => {
    const limits: Limits = { ...DEFAULT_LIMITS, subjectMaxChars: 5, attachmentMaxBytes: 10 };
    expect(refusal(() => validateSendInput(VALID_INPUT, limits)).issues.map((i) => i.field)).toEqual([
      'subject',
      'attachments[0].content',
      'attachments[1].content',
    ]);
    // Cross-field limits are checked once every field is valid on its own.
    expect(refusal(() => validateSendInput(VALID_INPUT, { ...DEFAULT_LIMITS, maxRecipients: 3 })).field).toBe('bcc');
    expect(refusal(() => validateSendInput(VALID_INPUT, { ...DEFAULT_LIMITS, messageMaxBytes: 100 })).field).toBe(
      'attachments',
    );
    expect(validateSendInput(variant({ subject: 'Hi' }), { ...DEFAULT_LIMITS, subjectMaxChars: 2 }).subject).toBe('Hi');
  });

  it('accepts what the text rules leave alone: marks for right-to-left text, bidi controls in bodies, "=?" that is no encoded word, CRLF', () => {
    const email = validateSendInput(
      variant({
        subject: 'שלום \u200Fעולם =? ok',
        from: 'מחלקת חיובים <billing@example.com>',
        text: 'abc \u202Edef\r\nnext\n',
        html: '<p dir="rtl">\u2067שלום\u2069</p>',
      }),
    );
    expect(email.subject).toBe('שלום \u200Fעולם =? ok');
    expect(email.from).toEqual({ name: 'מחלקת חיובים', address: 'billing@example.com' });
    expect(email.text).toBe('abc \u202Edef\r\nnext\n');
  });

  it('accepts a 253-character address, the longest SMTP servers take', () => {
    const address = `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(56)}.com`;
    expect(address).toHaveLength(253);
    expect(validateSendInput(variant({ to: address })).to).toEqual([{ address }]);
  });

  it('refuses 100 000 recipients without looking at any of them', () => {
    let read = 0;
    const to = new Proxy(
      Array.from({ length: 100_000 }, (_, n) => `user${n}@example.com`),
      {
        get(target, key, receiver) {
          if (typeof key === 'string' && /^\d+$/.test(key)) read++;
          return Reflect.get(target, key, receiver);
        },
      },
    );
    expect(refusal(() => validateSendInput(variant({ to }))).field).toBe('to');
    expect(read).toBe(0);
  });

  it('refuses 100 MB of base64 without decoding or scanning it', () => {
    const content = 'QUFB'.repeat(25 * 1024 * 1024);
    const from = vi.spyOn(Buffer, 'from');
    const test = vi.spyOn(RegExp.prototype, 'test');
    try {
      expect(
        refusal(() =>
          validateSendInput(variant({ attachments: [{ filename: 'big.bin', content, encoding: 'base64' }] })),
        ).field,
      ).toBe('attachments[0].content');
      expect(from.mock.calls.some(([value]) => value === content)).toBe(false);
      expect(test.mock.calls.some(([value]) => value === content)).toBe(false);
    } finally {
      from.mockRestore();
      test.mockRestore();
    }
  });

  it('counts the subject in characters, not UTF-16 units', () => {
    expect(validateSendInput(variant({ subject: '😀'.repeat(255) })).subject).toHaveLength(510);
  });

  it('exposes the default limits and the header allowlist', () => {
    expect(DEFAULT_LIMITS).toEqual({
      subjectMaxChars: 255,
      bodyMaxBytes: 1024 ** 2,
      attachmentMaxBytes: 10 * 1024 ** 2,
      messageMaxBytes: 25 * 1024 ** 2,
      maxRecipients: 50,
      maxAttachments: 20,
      headerValueMaxChars: 900,
      idempotencyKeyMaxChars: 200,
    });
    expect(ALLOWED_HEADERS.get('list-unsubscribe-post')).toBe('List-Unsubscribe-Post');
    expect(ALLOWED_HEADERS.get('x-entity-ref-id')).toBe('X-Entity-Ref-ID');
    expect(ALLOWED_HEADERS.has('bcc')).toBe(false);
    expect(ALLOWED_HEADERS.size).toBe(9);
  });
});

describe('payloadHash', () => {
  const hash = (input: unknown, sendAt?: Date) => payloadHash(validateSendInput(input), sendAt);

  it('is stable for equal inputs', () => {
    expect(hash(VALID_INPUT)).toMatch(/^[0-9a-f]{64}$/);
    expect(hash(variant())).toBe(hash(VALID_INPUT));
    const at = new Date('2026-11-23T10:00:00Z');
    expect(hash(VALID_INPUT, at)).toBe(hash(variant(), new Date(at.getTime())));
  });

  it('does not depend on key order', () => {
    const a = validateSendInput(variant({ headers: { 'X-Tag': 't', 'X-Campaign': 'c' } }));
    const b = validateSendInput(variant({ headers: { 'X-Campaign': 'c', 'X-Tag': 't' } }));
    const reordered = Object.fromEntries(Object.entries(b).reverse()) as unknown as NormalizedEmail;
    expect(payloadHash(reordered)).toBe(payloadHash(a));
  });

  it('changes when one attachment byte changes', () => {
    const content = Buffer.from(VALID_INPUT.attachments[0]?.content as Buffer);
    content[0] = (content[0] ?? 0) ^ 1;
    const changed = variant();
    (changed.attachments as Record<string, unknown>[])[0] = { ...VALID_INPUT.attachments[0], content };
    expect(hash(changed)).not.toBe(hash(VALID_INPUT));
  });

  it('changes when the subject, a recipient or sendAt changes', () => {
    const base = hash(VALID_INPUT);
    expect(hash(variant({ subject: 'Your invoice #1025' }))).not.toBe(base);
    expect(hash(variant({ bcc: 'other@example.com' }))).not.toBe(base);
    expect(hash(VALID_INPUT, new Date('2026-11-23T10:00:00Z'))).not.toBe(base);
    expect(hash(VALID_INPUT, new Date('2026-11-23T10:00:00Z'))).not.toBe(
      hash(VALID_INPUT, new Date('2026-11-23T10:00:01Z')),
    );
  });
});

describe('validateSendAt', () => {
  it.each(BAD_SEND_AT)('refuses %s', (_name, value) => {
    expect(refusal(() => validateSendAt(value)).field).toBe('sendAt');
  });

  it(`accepts up to ${SEND_AT_HORIZON_DAYS} days ahead and any time since 1970 (a past time means now)`, () => {
    const now = Date.parse('2026-12-01T00:00:00Z');
    expect(validateSendAt(new Date(now + SEND_AT_HORIZON_DAYS * 86_400_000), { now })?.getTime()).toBe(
      now + SEND_AT_HORIZON_DAYS * 86_400_000,
    );
    expect(
      refusal(() => validateSendAt(new Date(now + SEND_AT_HORIZON_DAYS * 86_400_000 + 1), { now })).reason,
    ).toMatch(/more than 366 days ahead/);
    expect(validateSendAt('1970-01-01T00:00:00Z', { now })?.getTime()).toBe(0);
  });

  it('accepts ISO-8601 with a timezone, and Dates', () => {
    expect(validateSendAt('2026-11-23T10:00:00Z')?.toISOString()).toBe('2026-11-23T10:00:00.000Z');
    expect(validateSendAt('2026-11-23T10:00:00+01:00')?.toISOString()).toBe('2026-11-23T09:00:00.000Z');
    expect(
      validateSendAt('2028-02-29T23:59:59.5-05:30', { now: Date.parse('2027-06-01T00:00:00Z') })?.toISOString(),
    ).toBe('2028-03-01T05:29:59.500Z');
    expect(validateSendAt(new Date('2026-11-23T10:00:00Z'))?.toISOString()).toBe('2026-11-23T10:00:00.000Z');
    expect(validateSendAt(undefined)).toBeUndefined();
    expect(validateSendAt(null)).toBeUndefined();
  });

  it.each([
    '2026-11-23',
    'tomorrow',
    '2026-13-01T00:00:00Z',
    '2026-11-23T10:00:00',
    '2026-11-23 10:00:00Z',
    '2026-02-29T00:00:00Z',
    '2026-11-23T24:00:00Z',
    '2026-11-23T10:00:00+25:00',
    '',
    1_790_000_000_000,
    new Date(Number.NaN),
    {},
  ])('refuses %j', (value) => {
    const error = refusal(() => validateSendAt(value));
    expect(error.field).toBe('sendAt');
    expect(error.message).toBe(`sendAt: ${error.reason}`);
  });
});

describe('validateIdempotencyKey', () => {
  it('accepts printable ASCII up to the limit', () => {
    expect(validateIdempotencyKey('order-1024:invoice')).toBe('order-1024:invoice');
    expect(validateIdempotencyKey('k'.repeat(200))).toHaveLength(200);
    expect(validateIdempotencyKey(undefined)).toBeUndefined();
    expect(validateIdempotencyKey('abcd', { ...DEFAULT_LIMITS, idempotencyKeyMaxChars: 4 })).toBe('abcd');
  });

  it.each([
    ['empty', ''],
    ['with a space', 'a b'],
    ['201 characters', 'k'.repeat(201)],
    ['non-ASCII', 'clé'],
    ['a tab', 'a\tb'],
    ['a number', 42],
  ])('refuses %s', (_name, value) => {
    expect(refusal(() => validateIdempotencyKey(value)).field).toBe('idempotencyKey');
  });
});

describe('formatAddress', () => {
  it('formats for display, quoting names that need it', () => {
    expect(formatAddress({ address: 'a@example.com' })).toBe('a@example.com');
    expect(formatAddress({ name: 'Ada Lovelace', address: 'a@example.com' })).toBe('Ada Lovelace <a@example.com>');
    expect(formatAddress({ name: 'Acme, Inc. "Billing"', address: 'a@example.com' })).toBe(
      '"Acme, Inc. \\"Billing\\"" <a@example.com>',
    );
  });
});
