// Input validation for send(). Pure: no I/O, no Temporal. Everything that
// reaches the store, the workflow and nodemailer has been through here, so the
// rules lean strict: anything that could smuggle a header, a recipient or a
// file read past us is refused with the field and a reason, never "fixed".
// Counts and sizes are checked first (preflight), before any work that grows
// with the input, so an oversized request costs microseconds to refuse.
import { createHash } from 'node:crypto';
import addressparser from 'nodemailer/lib/addressparser/index.js';
import { z } from 'zod';
import { ValidationError } from '../errors.ts';

export { ValidationError };
import { overTotal, preflight, size, tooManyRecipients } from './preflight.ts';
import { LONE_SURROGATE, textProblem } from './text.ts';

export interface Address {
  name?: string;
  address: string;
}
export interface NormalizedAttachment {
  filename: string;
  contentType: string;
  content: Buffer;
  size: number;
  checksum: string;
  cid: string | null;
}
export interface NormalizedEmail {
  from: Address;
  to: Address[];
  cc: Address[];
  bcc: Address[];
  replyTo: Address[];
  subject: string;
  text: string | null;
  html: string | null;
  headers: Record<string, string>;
  attachments: NormalizedAttachment[];
}
export interface Limits {
  subjectMaxChars: number;
  bodyMaxBytes: number;
  attachmentMaxBytes: number;
  messageMaxBytes: number;
  maxRecipients: number;
  maxAttachments: number;
  headerValueMaxChars: number;
  idempotencyKeyMaxChars: number;
}

const MiB = 1024 * 1024;
export const DEFAULT_LIMITS: Limits = Object.freeze({
  subjectMaxChars: 255,
  bodyMaxBytes: MiB,
  attachmentMaxBytes: 10 * MiB,
  messageMaxBytes: 25 * MiB,
  maxRecipients: 50,
  maxAttachments: 20,
  headerValueMaxChars: 900,
  idempotencyKeyMaxChars: 200,
});

/**
 * Attachment types, by top-level type. `message/*` and `multipart/*` are MIME
 * structure, which nodemailer sends unencoded (NUL bytes and overlong lines in
 * SMTP DATA, a part a receiver parses as more message); send such content as
 * application/octet-stream.
 */
export const ATTACHMENT_TOP_LEVEL_TYPES: ReadonlySet<string> = new Set([
  'application',
  'audio',
  'font',
  'image',
  'model',
  'text',
  'video',
]);

/** How far ahead `sendAt` may be. Temporal caps a timer at 100 years; an email a year out is already a mistake more often than a plan. */
export const SEND_AT_HORIZON_DAYS = 366;
const EARLIEST_SEND_AT = Date.UTC(1970, 0, 1);

export const ALLOWED_HEADERS: ReadonlyMap<string, string> = new Map(
  [
    'List-Unsubscribe',
    'List-Unsubscribe-Post',
    'List-Id',
    'X-Entity-Ref-ID',
    'X-Campaign',
    'X-Tag',
    'Auto-Submitted',
    'Precedence',
    'Importance',
  ].map((h) => [h.toLowerCase(), h] as const),
);

// --- small helpers -----------------------------------------------------------

type Path = PropertyKey[];
// Thrown inside zod transforms and turned into an issue at `path` (relative).
// Such issues are marked `continue`, which tells a zod union that the input did
// match that branch's type, so the union reports this reason, not a type error.
class Reject {
  constructor(
    readonly reason: string,
    readonly path: Path = [],
  ) {}
}
function fail(reason: string, path: Path = []): never {
  throw new Reject(reason, path);
}

function check<S extends z.ZodType, O>(schema: S, fn: (value: z.output<S>) => O) {
  return schema.transform((value, ctx): O => {
    try {
      return fn(value);
    } catch (e) {
      if (!(e instanceof Reject)) throw e;
      ctx.addIssue({ code: 'custom', message: e.reason, path: e.path, continue: true });
      return z.NEVER;
    }
  });
}

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');
const describe = (v: unknown): string =>
  v === null
    ? 'null'
    : Buffer.isBuffer(v)
      ? 'a Buffer'
      : v instanceof Uint8Array
        ? 'a Uint8Array'
        : Array.isArray(v)
          ? 'an array'
          : v instanceof Date
            ? 'a Date'
            : /^[aeiou]/.test(typeof v)
              ? `an ${typeof v}`
              : `a ${typeof v}`;

function assertText(s: string, kind: 'line' | 'body', path: Path = []): void {
  const problem = textProblem(s, kind);
  if (problem) fail(problem, path);
}

// --- addresses -----------------------------------------------------------------

const BAD_ADDRESS = 'is not a valid email address: ';
const ATEXT_DOT_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/** A bare addr-spec, strictly: dot-atom local part, LDH domain. Returns it with the domain lower-cased. */
function normalizeAddrSpec(spec: string): string {
  const no = (reason: string) => fail(BAD_ADDRESS + reason);
  if (/[^\x00-\x7f]/.test(spec))
    no('non-ASCII / internationalised (IDN, SMTPUTF8) addresses are not supported, use the xn-- form of the domain');
  if (/[\x00-\x20\x7f]/.test(spec)) no('contains whitespace or control characters');
  if (spec.includes('"')) no('quoted local parts are not accepted');
  if (/[()]/.test(spec)) no('comments "(...)" are not accepted');
  if (/^@[^@]*:/.test(spec)) no('source routes ("@host:") are not accepted');
  if (/[%!]/.test(spec)) no("the routing characters '%' and '!' are not accepted");
  if (/[[\]]/.test(spec)) no('IP address / domain literals ("[...]") are not accepted');
  if (/[<>]/.test(spec)) no('expected a bare address like local@example.com');
  const at = spec.split('@').length - 1;
  if (at === 0) no('missing "@"');
  if (at > 1) no('contains more than one "@"');
  // 253, not RFC 5321's 254: smtp-server and other receivers count the path that way.
  if (spec.length > 253) no('is longer than 253 characters (the longest address SMTP servers accept)');
  const [local = '', domain = ''] = spec.split('@');
  if (!local) no('the local part (before "@") is empty');
  if (local.length > 64) no('the local part is longer than 64 characters');
  if (/^\.|\.$|\.\./.test(local)) no('the local part must not start or end with a dot or contain two dots in a row');
  if (!ATEXT_DOT_ATOM.test(local)) no('the local part contains a character that is not allowed');
  if (!domain) no('the domain (after "@") is empty');
  if (domain.length > 253) no('the domain is longer than 253 characters');
  const labels = domain.split('.');
  if (labels.length < 2) no('the domain must have at least two labels, e.g. example.com');
  for (const label of labels) {
    if (!LABEL.test(label))
      no(
        `the domain label "${label}" is not valid (1-63 letters, digits or hyphens, not starting or ending with a hyphen)`,
      );
  }
  if (!/^(?:[a-z]+|xn--[a-z0-9-]+)$/i.test(labels[labels.length - 1] ?? ''))
    no('the top-level domain must be alphabetic or an xn-- label');
  return `${local}@${domain.toLowerCase()}`;
}

function normalizeDisplayName(name: string, path: Path = []): string | undefined {
  if (name.trim().length > 200) fail('the display name is longer than 200 characters', path);
  assertText(name, 'line', path);
  const trimmed = name.trim();
  return trimmed || undefined;
}

/** "local@domain" or "Name <local@domain>", exactly one mailbox. */
function parseAddressString(raw: string): Address {
  if (raw.length > 1000) fail('is longer than 1000 characters');
  assertText(raw, 'line');
  // Blank out quoted strings so specials inside a quoted display name don't count.
  const masked = raw.replace(/"(?:[^"\\]|\\.)*"/g, (m) => '_'.repeat(m.length));
  // addressparser silently drops comments and source routes (and would keep
  // the rest), so they are refused here, before it gets to see them.
  if (/[()]/.test(masked)) fail(BAD_ADDRESS + 'comments "(...)" are not accepted');
  if (/(?:^|<)\s*@/.test(masked)) fail(BAD_ADDRESS + 'source routes ("@host:") are not accepted');
  const entries = addressparser(raw);
  const entry = entries[0];
  if (entries.length !== 1 || !entry || entry.group || /[,;:]/.test(masked)) {
    fail('must contain exactly one address (groups and comma-separated lists are not accepted)');
  }
  let spec = raw.trim();
  const open = masked.indexOf('<');
  if (open !== -1) {
    const close = masked.indexOf('>', open);
    if (
      close === -1 ||
      masked.indexOf('<', open + 1) !== -1 ||
      masked.slice(close + 1).trim() ||
      /["<>]/.test(masked.slice(0, open))
    ) {
      fail(BAD_ADDRESS + 'expected "local@example.com" or "Name <local@example.com>"');
    }
    if (masked.slice(0, open).includes('@')) fail(BAD_ADDRESS + 'a display name containing "@" must be quoted');
    spec = raw.slice(open + 1, close).trim();
  }
  const address = normalizeAddrSpec(spec);
  // Our reading and nodemailer's must agree, or the two could disagree on the recipient.
  if (entry?.address?.toLowerCase() !== address.toLowerCase())
    fail(BAD_ADDRESS + 'it could not be parsed unambiguously');
  const name = open === -1 ? undefined : normalizeDisplayName(entry?.name ?? '');
  return name ? { name, address } : { address };
}

// --- attachments ---------------------------------------------------------------

const SOURCE_KEYS = new Set(['path', 'href', 'raw', 'url', 'file']);
const CONTENT_ONLY = "attachments must be given as content (a Buffer, or a string with encoding 'utf8' or 'base64')";
const LOOKS_LIKE_SOURCE = /^(?:(?:file|https?|data|ftp):|\/|\.\/|~\/)/i;

function normalizeFilename(s: string): string {
  if (s.length > 255) fail('is longer than 255 characters');
  assertText(s, 'line');
  if (!s.trim()) fail('must not be empty');
  if (/[/\\]/.test(s)) fail('must not contain "/" or "\\"');
  if (s === '.' || s === '..') fail('must not be "." or ".."');
  return s;
}

function decodeContent(content: string | Uint8Array, encoding: 'base64' | 'utf8' | undefined): Buffer {
  if (typeof content !== 'string') {
    if (encoding !== undefined) fail('only applies to string content', ['encoding']);
    return Buffer.from(content);
  }
  if (LONE_SURROGATE.test(content)) fail('contains invalid Unicode (lone surrogate)', ['content']);
  if (encoding === 'base64') {
    // Buffer.from() skips junk characters; a typo must not become silent data loss.
    if (content.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(content)) {
      fail('is not valid base64 (only A-Z, a-z, 0-9, "+", "/" and correct "=" padding)', ['content']);
    }
    return Buffer.from(content, 'base64');
  }
  // A path where content was meant is the classic way to make a mailer read a file.
  if (encoding === undefined && LOOKS_LIKE_SOURCE.test(content) && !content.includes('\n')) {
    fail(`looks like a path or URL; ${CONTENT_ONLY}`, ['content']);
  }
  return Buffer.from(content, 'utf8');
}

// --- the schema ------------------------------------------------------------------

function buildSchema(L: Limits) {
  const addressObject = z.strictObject({
    name: check(z.string(), (s) => normalizeDisplayName(s)).optional(),
    address: check(z.string(), normalizeAddrSpec),
  });
  // No transforms on union branches: a transform after a failed check hides the
  // reason from the union, which would then report only a generic type error.
  const address = z.union([check(z.string(), parseAddressString), addressObject], {
    error: 'expected an address string or a { name, address } object',
  });
  const addressList = z.union([address, z.array(address).min(1, { error: 'must contain at least one address' })], {
    error: 'expected an address string, a { name, address } object, or an array of them',
  });

  const body = check(z.string(), (s) => {
    if (Buffer.byteLength(s, 'utf8') > L.bodyMaxBytes) fail(`is larger than ${size(L.bodyMaxBytes)} (UTF-8)`);
    assertText(s, 'body');
    if (!s.trim()) fail('must not be empty (leave it out instead)');
    return s;
  });
  const headerValue = check(z.string(), (s) => {
    if (s.length > L.headerValueMaxChars) fail(`is longer than ${L.headerValueMaxChars} characters`);
    assertText(s, 'line');
    if (!s.trim()) fail('must not be empty');
    return s;
  });
  const headers = check(z.record(z.string(), headerValue), (given) => {
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(given)) {
      const canonical = ALLOWED_HEADERS.get(name.toLowerCase());
      if (!canonical) fail(`is not an allowed header (allowed: ${[...ALLOWED_HEADERS.values()].join(', ')})`, [name]);
      else if (Object.hasOwn(out, canonical)) fail('is given twice (header names are case-insensitive)', [name]);
      else out[canonical] = value;
    }
    return out;
  });

  const attachment = z
    .strictObject({
      filename: check(z.string(), normalizeFilename),
      content: z.union([z.instanceof(Uint8Array), z.string()], {
        error: 'expected a Buffer, a Uint8Array or a string',
      }),
      encoding: z.enum(['base64', 'utf8'], { error: "must be 'base64' or 'utf8'" }).optional(),
      contentType: check(z.string(), (s) => {
        if (s.length > 255 || !/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/i.test(s))
          fail('must be a MIME type like "application/pdf" (no parameters)');
        const type = s.toLowerCase();
        if (!ATTACHMENT_TOP_LEVEL_TYPES.has(type.slice(0, type.indexOf('/')))) {
          fail(
            `"${type}" is not an accepted attachment type (accepted: ${[...ATTACHMENT_TOP_LEVEL_TYPES].map((t) => `${t}/*`).join(', ')}); send it as application/octet-stream`,
          );
        }
        return type;
      }).optional(),
      cid: check(z.string(), (s) => {
        if (!/^[A-Za-z0-9._@-]{1,128}$/.test(s))
          fail('must be 1-128 characters of A-Z, a-z, 0-9, ".", "_", "@" or "-"');
        return s;
      }).optional(),
    })
    .transform((a, ctx): NormalizedAttachment => {
      try {
        const content = decodeContent(a.content, a.encoding);
        if (content.length > L.attachmentMaxBytes) fail(`is larger than ${size(L.attachmentMaxBytes)}`, ['content']);
        return {
          filename: a.filename,
          contentType: a.contentType ?? 'application/octet-stream',
          content,
          size: content.length,
          checksum: sha256(content),
          cid: a.cid ?? null,
        };
      } catch (e) {
        if (!(e instanceof Reject)) throw e;
        ctx.addIssue({ code: 'custom', message: e.reason, path: e.path, continue: true });
        return z.NEVER;
      }
    });

  const subject = check(z.string(), (s) => {
    if ([...s.slice(0, 2 * L.subjectMaxChars + 2)].length > L.subjectMaxChars)
      fail(`is longer than ${L.subjectMaxChars} characters`);
    assertText(s, 'line');
    if (!s.trim()) fail('must not be empty');
    return s;
  });

  return z.strictObject({
    from: address,
    to: addressList,
    cc: addressList.optional(),
    bcc: addressList.optional(),
    replyTo: addressList.optional(),
    subject,
    text: body.optional(),
    html: body.optional(),
    headers: headers.optional(),
    attachments: z
      .array(attachment)
      .max(L.maxAttachments, { error: `has more than ${L.maxAttachments} attachments` })
      .optional(),
  });
}

const schemas = new WeakMap<Limits, ReturnType<typeof buildSchema>>();

type Issue = { field: string; reason: string };
const fieldPath = (path: Path): string =>
  path.reduce<string>(
    (out, p) =>
      typeof p === 'number'
        ? `${out}[${p}]`
        : // Keys come from the caller: escape control characters so the field name can't forge log lines.
          `${out}${out ? '.' : ''}${String(p)
            .slice(0, 100)
            .replace(/[\x00-\x1f\x7f]/g, escapeControl)}`,
    '',
  ) || 'input';
function escapeControl(c: string): string {
  return c === '\r' ? '\\r' : c === '\n' ? '\\n' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

function toIssues(issue: z.core.$ZodIssue, prefix: Path = []): Issue[] {
  const path = [...prefix, ...issue.path];
  // Unions and enums carry their own message; a missing value deserves a plainer one.
  if ((issue.code === 'invalid_union' || issue.code === 'invalid_value') && issue.input === undefined)
    return [{ field: fieldPath(path), reason: 'is required' }];
  if (issue.code === 'invalid_union') {
    // When only one branch got past the type check (e.g. the array branch for
    // `to: ['ok@example.com', 42]`), its issues are the useful ones.
    const deeper = issue.errors.filter((branch) => branch.length && branch.every((i) => i.path.length));
    if (deeper.length === 1) return (deeper[0] ?? []).flatMap((i) => toIssues(i, path));
  }
  if (issue.code === 'unrecognized_keys') {
    const inAttachment = path.length === 2 && path[0] === 'attachments';
    return issue.keys.map((key) => ({
      field: fieldPath([...path, key]),
      reason:
        inAttachment && SOURCE_KEYS.has(key) ? `unknown field: ${CONTENT_ONLY}, not a path or URL` : 'unknown field',
    }));
  }
  if (issue.code === 'invalid_type') {
    const reason =
      issue.input === undefined
        ? 'is required'
        : `expected ${issue.expected === 'object' ? 'an object' : issue.expected === 'array' ? 'an array' : `a ${issue.expected}`}, not ${describe(issue.input)}`;
    return [{ field: fieldPath(path), reason }];
  }
  return [{ field: fieldPath(path), reason: issue.message }];
}

function throwIssues(issues: Issue[]): never {
  const [first] = issues;
  if (!first) throw new Error('throwIssues: no issues');
  throw new ValidationError(first.field, first.reason, issues);
}

// --- public API --------------------------------------------------------------------

export function validateSendInput(input: unknown, limits: Limits = DEFAULT_LIMITS): NormalizedEmail {
  const early = preflight(input, limits, ALLOWED_HEADERS);
  if (early.length) throwIssues(early);
  let schema = schemas.get(limits);
  if (!schema) schemas.set(limits, (schema = buildSchema(limits)));
  const parsed = schema.safeParse(input, { reportInput: true });
  if (!parsed.success) {
    // An unknown field is usually the cause of whatever else went wrong (a typo, or `path` instead of `content`).
    const issues = parsed.error.issues.flatMap((i) => toIssues(i));
    throwIssues([
      ...issues.filter((i) => i.reason.startsWith('unknown field')),
      ...issues.filter((i) => !i.reason.startsWith('unknown field')),
    ]);
  }
  const d = parsed.data;
  const tidy = ({ name, address }: Address): Address => (name ? { name, address } : { address });
  const list = (v: Address | Address[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]).map(tidy);
  const email: NormalizedEmail = {
    from: tidy(d.from),
    to: list(d.to),
    cc: list(d.cc),
    bcc: list(d.bcc),
    replyTo: list(d.replyTo),
    subject: d.subject,
    text: d.text ?? null,
    html: d.html ?? null,
    headers: d.headers ?? {},
    attachments: d.attachments ?? [],
  };

  const issues: Issue[] = [];
  if (email.text === null && email.html === null)
    issues.push({ field: 'text', reason: 'a text or html body is required' });
  let recipients = 0;
  for (const field of ['to', 'cc', 'bcc'] as const) {
    recipients += email[field].length;
    if (recipients > limits.maxRecipients) {
      issues.push({ field, reason: tooManyRecipients(limits) });
      break;
    }
  }
  const cids = new Map<string, number>();
  email.attachments.forEach((a, i) => {
    if (a.cid === null) return;
    const seen = cids.get(a.cid.toLowerCase());
    if (seen !== undefined)
      issues.push({ field: `attachments[${i}].cid`, reason: `duplicates the content-id of attachments[${seen}]` });
    else cids.set(a.cid.toLowerCase(), i);
  });
  // Attachments travel base64-encoded, so they count at 4/3 of their size.
  const total =
    Buffer.byteLength(email.text ?? '', 'utf8') +
    Buffer.byteLength(email.html ?? '', 'utf8') +
    email.attachments.reduce((sum, a) => sum + Math.ceil(a.size / 3) * 4, 0);
  if (total > limits.messageMaxBytes) {
    const field = email.attachments.length ? 'attachments' : email.html !== null ? 'html' : 'text';
    issues.push({ field, reason: overTotal(total, limits) });
  }
  if (issues.length) throwIssues(issues);
  return email;
}

const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,3})?(?:Z|[+-](\d{2}):(\d{2}))$/;

/** A Date, or an ISO-8601 string with a time zone, from 1970 to SEND_AT_HORIZON_DAYS after `now`; a past time means now. */
export function validateSendAt(value: unknown, { now = Date.now() }: { now?: number } = {}): Date | undefined {
  if (value === undefined || value === null) return undefined;
  const within = (time: number): Date => {
    // Postgres and Temporal would each refuse (or silently cap) what lies outside.
    if (time < EARLIEST_SEND_AT) throw new ValidationError('sendAt', 'is before 1970-01-01T00:00:00Z');
    const latest = now + SEND_AT_HORIZON_DAYS * 86_400_000;
    if (time > latest)
      throw new ValidationError(
        'sendAt',
        `is more than ${SEND_AT_HORIZON_DAYS} days ahead (the latest accepted now is ${new Date(latest).toISOString()})`,
      );
    return new Date(time);
  };
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new ValidationError('sendAt', 'is an invalid Date');
    return within(value.getTime());
  }
  if (typeof value !== 'string')
    throw new ValidationError('sendAt', `expected a Date or an ISO-8601 string, not ${describe(value)}`);
  const m = ISO_DATE_TIME.exec(value);
  const n = (i: number) => Number(m?.[i] ?? 0);
  const year = n(1),
    month = n(2);
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
  const time = Date.parse(value);
  if (
    !m ||
    n(3) < 1 ||
    n(3) > days ||
    n(4) > 23 ||
    n(5) > 59 ||
    n(6) > 59 ||
    n(7) > 23 ||
    n(8) > 59 ||
    Number.isNaN(time)
  ) {
    throw new ValidationError('sendAt', 'must be an ISO-8601 date-time with a timezone, e.g. 2026-11-23T10:00:00Z');
  }
  return within(time);
}

export function validateIdempotencyKey(value: unknown, limits: Limits = DEFAULT_LIMITS): string | undefined {
  if (value === undefined || value === null) return undefined;
  const max = limits.idempotencyKeyMaxChars;
  if (typeof value !== 'string')
    throw new ValidationError('idempotencyKey', `expected a string, not ${describe(value)}`);
  if (!value) throw new ValidationError('idempotencyKey', 'must not be empty');
  if (value.length > max) throw new ValidationError('idempotencyKey', `is longer than ${max} characters`);
  if (!/^[\x21-\x7e]+$/.test(value))
    throw new ValidationError(
      'idempotencyKey',
      'may contain only printable ASCII characters without spaces (0x21-0x7E)',
    );
  return value;
}

export function formatAddress(a: Address): string {
  if (!a.name) return a.address;
  const name = /[()<>[\]:;@\\,."]/.test(a.name) ? `"${a.name.replace(/[\\"]/g, '\\$&')}"` : a.name;
  return `${name} <${a.address}>`;
}

// Stable key order at every level, so the hash depends on content only.
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

export function payloadHash(email: NormalizedEmail, sendAt?: Date): string {
  return sha256(
    canonicalJson({
      v: 1,
      from: email.from,
      to: email.to,
      cc: email.cc,
      bcc: email.bcc,
      replyTo: email.replyTo,
      subject: email.subject,
      text: email.text,
      html: email.html,
      headers: email.headers,
      attachments: email.attachments.map((a) => ({
        filename: a.filename,
        contentType: a.contentType,
        cid: a.cid,
        checksum: a.checksum,
      })),
      sendAt: sendAt ? sendAt.toISOString() : null,
    }),
  );
}
