// The only place an email record becomes nodemailer options. Every key here is
// ours: attachments carry `content` only (never `path`/`href`, so nodemailer
// never reads a file or fetches a URL), header names come from the allowlist
// in validation.ts, and there is no `raw` or `envelope` — nodemailer derives
// the envelope from the validated addresses.
import type { SendMailOptions } from 'nodemailer';
import type { EmailRecord } from './store.ts';
import type { Address, NormalizedAttachment } from './validation.ts';
import { ALLOWED_HEADERS, ATTACHMENT_TOP_LEVEL_TYPES } from './validation.ts';

// Records written before the type allowlist may hold message/* or multipart/*,
// which nodemailer would send unencoded: they go out as opaque bytes instead.
const safeType = (type: string) =>
  ATTACHMENT_TOP_LEVEL_TYPES.has(type.slice(0, type.indexOf('/'))) ? type : 'application/octet-stream';

const toNodemailer = (a: Address) => ({ name: a.name ?? '', address: a.address });

export function mailOptions(email: EmailRecord, attachments: NormalizedAttachment[]): SendMailOptions {
  // A purged email is final and is never sent again; were one to get here, sending an empty shell would be worse than failing.
  if (email.purgedAt) throw new Error(`email ${email.id} has no content to send (purged)`);
  // A message submitted through SQL has these only once the validator admitted it.
  if (!email.from || email.subject === null || !email.messageId)
    throw new Error(`email ${email.id} has not been admitted by the validator`);
  const from = email.from;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(email.headers)) {
    const canonical = ALLOWED_HEADERS.get(name.toLowerCase());
    // Validated on the way in; asserted again here because this is the last gate.
    if (!canonical) throw new Error(`header ${JSON.stringify(name)} is not allowed`);
    headers[canonical] = value;
  }
  return {
    from: toNodemailer(from),
    to: email.to.map(toNodemailer),
    cc: email.cc.map(toNodemailer),
    bcc: email.bcc.map(toNodemailer),
    replyTo: email.replyTo.map(toNodemailer),
    subject: email.subject,
    ...(email.text !== null ? { text: email.text } : {}),
    ...(email.html !== null ? { html: email.html } : {}),
    headers,
    // Stable across attempts, so a resend after an uncertain failure carries
    // the same identity and receivers can de-duplicate it.
    messageId: email.messageId,
    date: email.createdOn,
    attachments: attachments.map((a) => ({
      filename: a.filename,
      content: a.content,
      contentType: safeType(a.contentType),
      ...(a.cid ? { cid: a.cid } : {}),
    })),
    // Belt and braces: even if a future change let a path slip through, refuse it.
    disableFileAccess: true,
    disableUrlAccess: true,
  };
}
