// One pooled SMTP transport per worker process: opening a connection per
// message costs far more than the send itself (see the README's performance
// notes). TLS is required for any server that is not on this machine.
//
// SMTP_URL gives the server and the credentials, nothing else: nodemailer
// would let its query string override any option (`?ignoreTLS=true`,
// `?tls.rejectUnauthorized=false`, `?logger=true` printing every message), so
// the URL is taken apart here and only a short allowlist of parameters that
// cannot weaken TLS or turn on logging is passed on.
import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import { type Config, ConfigError } from './config.ts';

export type SmtpTransport = Transporter;

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/** SMTP_URL query parameters that are passed on: the name we greet with (EHLO) and the SASL mechanism. */
export const SMTP_URL_PARAMETERS: ReadonlySet<string> = new Set(['name', 'authMethod']);

function decoded(value: string, part: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new ConfigError('SMTP_URL', `the ${part} is not valid percent-encoding`);
  }
}

/** The transport's options from SMTP_URL and the SMTP settings; ConfigError('SMTP_URL') for anything else in the URL. */
export function smtpTransportOptions(smtpUrl: string, smtp: Config['smtp']): SMTPPool.Options {
  let url: URL;
  try {
    url = new URL(smtpUrl);
  } catch {
    throw new ConfigError('SMTP_URL', 'is not a valid URL (e.g. smtp://user:pass@smtp.example.com:587)');
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:')
    throw new ConfigError('SMTP_URL', 'must start with smtp:// or smtps://');
  if ((url.pathname && url.pathname !== '/') || url.hash)
    throw new ConfigError('SMTP_URL', 'must not have a path or a fragment (smtp://user:pass@host:port)');
  const params: Record<string, string> = {};
  for (const [key, value] of url.searchParams) {
    // The name only: a value may be a secret.
    if (!SMTP_URL_PARAMETERS.has(key)) {
      throw new ConfigError(
        'SMTP_URL',
        `the query parameter "${key.slice(0, 40)}" is not accepted (accepted: ${[...SMTP_URL_PARAMETERS].join(', ')}); TLS, certificate checks and logging are not configurable through the URL`,
      );
    }
    if (Object.hasOwn(params, key)) throw new ConfigError('SMTP_URL', `the query parameter "${key}" is given twice`);
    params[key] = value;
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new ConfigError('SMTP_URL', 'has no host');
  const secure = url.protocol === 'smtps:';
  const local = LOOPBACK.has(url.hostname);
  return {
    host,
    ...(url.port ? { port: Number(url.port) } : {}),
    secure,
    ...(url.username || url.password
      ? { auth: { user: decoded(url.username, 'user'), pass: decoded(url.password, 'password') } }
      : {}),
    ...(params.name ? { name: params.name } : {}),
    ...(params.authMethod ? { authMethod: params.authMethod } : {}),
    pool: true,
    maxConnections: smtp.poolSize,
    // smtps:// is TLS from the first byte; smtp:// to a remote host must upgrade
    // with STARTTLS or fail — never fall back to plaintext silently.
    requireTLS: !secure && !local && !smtp.allowPlaintext,
    // nodemailer's defaults are minutes long; keep them well under deliver's
    // start-to-close timeout so a hung server surfaces as a retryable error.
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: smtp.socketTimeoutMs,
    // Its logger prints recipients, subjects and bodies.
    logger: false,
    debug: false,
    ...(smtp.dkim ? { dkim: smtp.dkim } : {}),
  };
}

export function createSmtpTransport(smtpUrl: string, smtp: Config['smtp']): SmtpTransport {
  return nodemailer.createTransport(smtpTransportOptions(smtpUrl, smtp));
}
