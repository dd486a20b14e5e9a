// The counts and sizes of a send() input, checked before anything that costs
// in proportion to it. Pure; validation.ts runs it first and throws what it finds.
import type { Limits } from './validation.ts';

type Issue = { field: string; reason: string };
const MiB = 1024 * 1024;

export const size = (n: number) => (n % MiB === 0 ? `${n / MiB} MiB` : `${n} bytes`);
export const tooManyRecipients = (L: Limits) =>
  `too many recipients: to, cc and bcc together may have at most ${L.maxRecipients}`;
export const overTotal = (total: number, L: Limits) =>
  `makes the message about ${total} bytes (attachments counted base64-encoded), over the ${size(L.messageMaxBytes)} limit`;
const isRecord = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** The fewest bytes an attachment's content can decode to, without decoding it. */
function contentSizeAtLeast(a: Record<string, unknown>): number {
  const { content, encoding } = a;
  if (content instanceof Uint8Array) return content.byteLength;
  if (typeof content !== 'string') return 0;
  // base64: 3 bytes per 4 characters, less up to 2 of padding; UTF-8: at least a byte per UTF-16 unit.
  return encoding === 'base64' ? Math.max(0, Math.floor(content.length / 4) * 3 - 2) : content.length;
}

/**
 * Counts and sizes, checked before anything that costs in proportion to the
 * input: 100 000 recipients are refused without parsing one, a 100 MB base64
 * string without decoding it. Only what is certainly over a limit is refused
 * here; the exact checks follow in the schema.
 */
export function preflight(input: unknown, L: Limits, allowedHeaders: ReadonlyMap<string, string>): Issue[] {
  const issues: Issue[] = [];
  if (!isRecord(input)) return issues;
  const refuse = (field: string, reason: string) => issues.push({ field, reason });
  const count = (v: unknown) => (Array.isArray(v) ? v.length : v === undefined ? 0 : 1);
  let recipients = 0;
  for (const field of ['to', 'cc', 'bcc'] as const) {
    recipients += count(input[field]);
    if (recipients > L.maxRecipients) {
      refuse(field, tooManyRecipients(L));
      break;
    }
  }
  if (count(input.replyTo) > L.maxRecipients) refuse('replyTo', `has more than ${L.maxRecipients} addresses`);
  if (typeof input.subject === 'string' && input.subject.length > 2 * L.subjectMaxChars)
    refuse('subject', `is longer than ${L.subjectMaxChars} characters`);
  for (const field of ['text', 'html'] as const) {
    const body = input[field];
    if (typeof body === 'string' && body.length > L.bodyMaxBytes)
      refuse(field, `is larger than ${size(L.bodyMaxBytes)} (UTF-8)`);
  }
  if (isRecord(input.headers)) {
    // Own keys, so a `__proto__` key (JSON.parse makes one) is seen: a parser building a plain object would drop it.
    const names = Object.keys(input.headers);
    if (names.length > allowedHeaders.size)
      refuse('headers', `has more than ${allowedHeaders.size} entries, the number of allowed headers`);
    else if (names.includes('__proto__'))
      refuse('headers.__proto__', `is not an allowed header (allowed: ${[...allowedHeaders.values()].join(', ')})`);
  }
  const attachments = input.attachments;
  if (Array.isArray(attachments)) {
    if (attachments.length > L.maxAttachments) refuse('attachments', `has more than ${L.maxAttachments} attachments`);
    else {
      let total =
        (typeof input.text === 'string' ? input.text.length : 0) +
        (typeof input.html === 'string' ? input.html.length : 0);
      attachments.forEach((a: unknown, i) => {
        const bytes = isRecord(a) ? contentSizeAtLeast(a) : 0;
        if (bytes > L.attachmentMaxBytes)
          refuse(`attachments[${i}].content`, `is larger than ${size(L.attachmentMaxBytes)}`);
        total += Math.ceil(bytes / 3) * 4;
      });
      if (!issues.length && total > L.messageMaxBytes) refuse('attachments', overTotal(total, L));
    }
  }
  return issues;
}
