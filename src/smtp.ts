// One pooled SMTP transport per worker process: opening a connection per
// message costs far more than the send itself (see the README's performance
// notes). TLS is required for any server that is not on this machine.
import nodemailer, { type Transporter } from 'nodemailer';
import type { Config } from './config.ts';

export type SmtpTransport = Transporter;

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

export function createSmtpTransport(smtpUrl: string, smtp: Config['smtp']): SmtpTransport {
  const url = new URL(smtpUrl);
  const local = LOOPBACK.has(url.hostname);
  return nodemailer.createTransport({
    url: smtpUrl,
    pool: true,
    maxConnections: smtp.poolSize,
    // smtps:// is TLS from the first byte; smtp:// to a remote host must upgrade
    // with STARTTLS or fail — never fall back to plaintext silently.
    requireTLS: url.protocol === 'smtp:' && !local && !smtp.allowPlaintext,
    // nodemailer's defaults are minutes long; keep them well under deliver's
    // start-to-close timeout so a hung server surfaces as a retryable error.
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: smtp.socketTimeoutMs,
    ...(smtp.dkim ? { dkim: smtp.dkim } : {}),
  });
}
