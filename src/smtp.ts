// One pooled SMTP transport per process: opening a connection per message
// costs far more than the send itself (see the README's performance notes).
import nodemailer, { type Transporter } from 'nodemailer';

export type SmtpTransport = Transporter;

export function createSmtpTransport(smtpUrl: string): SmtpTransport {
  return nodemailer.createTransport({
    url: smtpUrl,
    pool: true,
    maxConnections: 8,
    // nodemailer's defaults are minutes long; keep them well under the
    // activity timeouts so a hung server surfaces as a retryable error.
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });
}
