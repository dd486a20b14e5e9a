// A message submitted through SQL (`send_email(message jsonb, …)`) becomes an
// email here, in the worker, before its workflow starts: the same validator as
// send() (there is one), then either its columns are written (admitted) or it
// ends `rejected` with the field and the reason. Never sent, never retried.
import type { Config } from '../config.ts';
import type { Db } from '../db/schema.ts';
import { ValidationError } from '../errors.ts';
import { messageIdFor } from './store.ts';
import { admitSubmission, rejectSubmission } from './transitions.ts';
import { validateSendInput } from './validation.ts';

export type Admission = 'admitted' | 'rejected' | 'moved-on';

/**
 * The JSON shape → send()'s input. JSON has no bytes, so an attachment's
 * `content` is base64 unless the attachment says `encoding: "utf8"`.
 */
export function submittedInput(message: unknown): unknown {
  if (!message || typeof message !== 'object' || Array.isArray(message)) return message;
  const { attachments } = message as { attachments?: unknown };
  if (!Array.isArray(attachments)) return message;
  return {
    ...message,
    attachments: attachments.map((a: unknown) =>
      a && typeof a === 'object' && !Array.isArray(a) && !('encoding' in a) ? { ...a, encoding: 'base64' } : a,
    ),
  };
}

/** Validates one submission and records the verdict; `moved-on` when the email was no longer waiting (cancelled). */
export async function admit(
  db: Db,
  config: Pick<Config, 'messageIdDomain'>,
  emailId: string,
  message: unknown,
): Promise<Admission> {
  if (message === null || message === undefined) {
    return (await rejectSubmission(db, emailId, 'message', 'is missing (the submission row was removed)'))
      ? 'rejected'
      : 'moved-on';
  }
  let email;
  try {
    email = validateSendInput(submittedInput(message));
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    return (await rejectSubmission(db, emailId, err.field, err.reason)) ? 'rejected' : 'moved-on';
  }
  const admitted = await admitSubmission(db, emailId, email, messageIdFor(emailId, email.from, config.messageIdDomain));
  return admitted ? 'admitted' : 'moved-on';
}
