// The one classifier of SMTP failures. nodemailer errors carry a `code` from
// its catalogue (ECONNECTION, ETIMEDOUT, EAUTH, EENVELOPE, EMESSAGE, …) and,
// when the server answered, the numeric `responseCode`. What to do follows
// from those two alone.

export type SmtpErrorKind = 'permanent' | 'transient';

export interface SmtpErrorClass {
  kind: SmtpErrorKind;
  /** Stable ApplicationFailure type, for retry policies, search and dashboards. */
  type:
    | 'SmtpRejected'
    | 'SmtpMessageInvalid'
    | 'SmtpTemporary'
    | 'SmtpThrottled'
    | 'SmtpConnection'
    | 'SmtpAuth'
    | 'SmtpTls'
    | 'SmtpUnknown';
  /** For throttling replies: wait at least this long before the next attempt. */
  retryAfterMs?: number;
  responseCode?: number;
  message: string;
}

const CONNECTION_CODES = new Set([
  'ECONNECTION',
  'ETIMEDOUT',
  'ESOCKET',
  'EDNS',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPROTOCOL',
  'ESTREAM',
]);
const THROTTLE_TEXT = /rate|throttl|too many|try again later|slow down/i;
export const THROTTLE_DELAY_MS = 30_000;

export function classifySmtpError(err: unknown): SmtpErrorClass {
  const e = (err ?? {}) as { code?: unknown; responseCode?: unknown; response?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : undefined;
  const responseCode = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  const reply = typeof e.response === 'string' ? e.response : undefined;
  const message = (reply ?? (typeof e.message === 'string' ? e.message : String(err))).slice(0, 1000);
  const base = { message, ...(responseCode !== undefined ? { responseCode } : {}) };

  // Authentication and TLS problems are the operator's to fix; failing every
  // queued email meanwhile would turn a config slip into lost mail.
  if (code === 'EAUTH' || responseCode === 535 || responseCode === 534 || responseCode === 530)
    return { kind: 'transient', type: 'SmtpAuth', ...base };
  if (code === 'ETLS') return { kind: 'transient', type: 'SmtpTls', ...base };

  if (responseCode !== undefined && responseCode >= 500 && responseCode < 600) {
    // The server will not take this message, however often we ask (at any stage: RCPT or DATA).
    return { kind: 'permanent', type: 'SmtpRejected', ...base };
  }
  if (responseCode !== undefined && responseCode >= 400 && responseCode < 500) {
    if (THROTTLE_TEXT.test(message))
      return { kind: 'transient', type: 'SmtpThrottled', retryAfterMs: THROTTLE_DELAY_MS, ...base };
    return { kind: 'transient', type: 'SmtpTemporary', ...base };
  }
  // No reply code: nodemailer could not build or stream the message itself.
  if (code === 'EMESSAGE') return { kind: 'permanent', type: 'SmtpMessageInvalid', ...base };
  if (code && CONNECTION_CODES.has(code)) return { kind: 'transient', type: 'SmtpConnection', ...base };
  // Unknown failures are retried: a wrong "permanent" loses mail, a wrong "transient" costs a retry.
  return { kind: 'transient', type: 'SmtpUnknown', ...base };
}

/**
 * A reply that refuses the address itself, for good: enhanced status 5.1.x
 * (RFC 3463: 5.1.1 no such mailbox, 5.1.2 no such domain, 5.1.10 null MX…).
 * Only these suppress the address; see src/email/suppressions.ts for why 5.7.x does not.
 */
export function isAddressRefusal(reply: string): boolean {
  return /^5\d\d[ -]5\.1\.\d{1,3}(\s|$)/.test(reply.trim());
}

/**
 * The recipients refused at RCPT TO for good as addresses, from a failed send
 * (every recipient refused) or a successful one (some refused): nodemailer
 * lists each refusal with its recipient in `rejectedErrors`.
 */
export function addressRefusals(result: unknown): { address: string; reply: string }[] {
  const list = (result as { rejectedErrors?: unknown } | null | undefined)?.rejectedErrors;
  if (!Array.isArray(list)) return [];
  return list.flatMap((r: { recipient?: unknown; response?: unknown }) => {
    const address = typeof r?.recipient === 'string' ? r.recipient.toLowerCase() : undefined;
    const reply = typeof r?.response === 'string' ? r.response : '';
    return address && isAddressRefusal(reply) ? [{ address, reply: reply.slice(0, 500) }] : [];
  });
}
