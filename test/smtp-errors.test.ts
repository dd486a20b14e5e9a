// The one SMTP error classifier, on nodemailer-shaped errors.
import { describe, expect, it } from 'vitest';
import { classifySmtpError, THROTTLE_DELAY_MS } from '../src/activities/smtp-errors.ts';

const smtpError = (code: string, responseCode?: number, response?: string) =>
  Object.assign(new Error(response ?? code), {
    code,
    ...(responseCode ? { responseCode } : {}),
    ...(response ? { response } : {}),
  });

describe('classifySmtpError', () => {
  it.each([
    [smtpError('EENVELOPE', 550, '550 5.1.1 User unknown'), 'permanent', 'SmtpRejected'],
    [smtpError('EMESSAGE', 552, '552 5.3.4 Message too big'), 'permanent', 'SmtpRejected'],
    [smtpError('EMESSAGE', 554, '554 5.7.1 Rejected as spam'), 'permanent', 'SmtpRejected'],
    [smtpError('EMESSAGE'), 'permanent', 'SmtpMessageInvalid'],
    [smtpError('EENVELOPE', 451, '451 4.3.0 Temporary failure'), 'transient', 'SmtpTemporary'],
    [smtpError('EPROTOCOL', 421, '421 4.3.2 Service not available'), 'transient', 'SmtpTemporary'],
    [smtpError('ECONNECTION'), 'transient', 'SmtpConnection'],
    [smtpError('ETIMEDOUT'), 'transient', 'SmtpConnection'],
    [smtpError('ESOCKET'), 'transient', 'SmtpConnection'],
    [smtpError('EAUTH', 535, '535 5.7.8 Authentication failed'), 'transient', 'SmtpAuth'],
    [smtpError('ETLS'), 'transient', 'SmtpTls'],
    [new Error('something odd'), 'transient', 'SmtpUnknown'],
    ['not even an error', 'transient', 'SmtpUnknown'],
  ])('%s → %s %s', (err, kind, type) => {
    const c = classifySmtpError(err);
    expect(c.kind).toBe(kind);
    expect(c.type).toBe(type);
  });

  it('asks for a longer pause on throttling replies', () => {
    const c = classifySmtpError(smtpError('EENVELOPE', 450, '450 4.7.1 Too many messages, slow down'));
    expect(c).toMatchObject({
      kind: 'transient',
      type: 'SmtpThrottled',
      retryAfterMs: THROTTLE_DELAY_MS,
      responseCode: 450,
    });
  });

  it('keeps the server reply as the message', () => {
    expect(classifySmtpError(smtpError('EENVELOPE', 550, '550 no such user')).message).toBe('550 no such user');
  });
});
