// The bounds of every setting. Each range is wide enough that no real
// deployment meets its edges and narrow enough to catch a typo (an extra zero,
// the wrong unit, a stray character) at start. A value outside them passes a
// plain parser and fails later, far from its cause: an integer overflow in
// Postgres on every blockCheck, a retry policy the workflow itself refuses (so
// its task is retried forever), a Node timer above 2^31-1 ms (≈ 24.8 days)
// that fires at once, a header that the value splits in two.
import { createPrivateKey } from 'node:crypto';
import { ConfigError } from './errors.ts';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

export interface Range {
  min: number;
  max: number;
}

export const DURATION_BOUNDS = {
  // send() holds the caller's request this long. Under 100 ms a healthy remote
  // Temporal (TLS, a cloud round trip) misses it; over 2 min the caller has
  // long given up, and the reconciler starts the email anyway.
  MAILER_START_TIMEOUT: { min: 100, max: 2 * M },
  // The Schedule's period: 0s would silently mean no Schedule at all (`off` says
  // that on purpose); under a second the reconciler scans without pause; past
  // a day a lost email waits longer than anyone would call transactional.
  RECONCILE_INTERVAL: { min: S, max: 24 * H },
  // How long a record must sit unchanged to count as lost: past a day a lost
  // email is found too late to matter.
  RECONCILE_OLDER_THAN: { min: S, max: 24 * H },
  // The retry schedule goes into Temporal's retry policy, which refuses a zero
  // interval (the workflow task would then fail on every email). 100 ms keeps
  // the fast test schedules possible; a cap over a day means a recovered SMTP
  // server waits a day for the backlog.
  DELIVER_RETRY_INITIAL_INTERVAL: { min: 100, max: H },
  DELIVER_RETRY_MAX_INTERVAL: { min: 100, max: 24 * H },
  // One delivery attempt: it must outlast a 1 s heartbeat and a 1 s socket
  // timeout; two hours is far beyond a 25 MiB message on a slow link.
  DELIVER_TIMEOUT: { min: 2 * S, max: 2 * H },
  // How long a dead worker's attempt (and its claim) holds the email; under a
  // second a busy event loop misses heartbeats and healthy attempts are retried.
  DELIVER_HEARTBEAT_TIMEOUT: { min: S, max: 10 * M },
  // An SMTP server silent this long is hung; under a second a slow DATA reply fails.
  SMTP_SOCKET_TIMEOUT: { min: S, max: H },
  // What SIGTERM gives in-flight deliveries; past an hour every orchestrator has killed the process.
  WORKER_SHUTDOWN_GRACE: { min: S, max: H },
  // How stale the backlog gauges may be: under a second the count is a query
  // loop; past an hour an alert on the oldest unsent email comes an hour late.
  MAILER_BACKLOG_INTERVAL: { min: S, max: H },
  // Content kept after an email is final: under an hour an operator cannot look
  // at a failure before it is gone; past ten years it is not a retention at all.
  EMAIL_CONTENT_RETENTION: { min: H, max: 3650 * D },
  EMAIL_RECORD_RETENTION: { min: H, max: 3650 * D },
  // The purge Schedule's period: under a second it scans without pause; past a
  // day content outlives its retention by a day.
  MAILER_PURGE_INTERVAL: { min: S, max: 24 * H },
  // One webhook POST: under 100 ms a healthy receiver across a network misses
  // it; past a minute one slow receiver holds up every email's events.
  WEBHOOK_TIMEOUT: { min: 100, max: M },
  // The webhook retry schedule (doubling): 100 ms keeps the tests fast; the
  // cap past a day means a receiver back up waits a day for its events.
  WEBHOOK_RETRY_INITIAL_INTERVAL: { min: 100, max: H },
  WEBHOOK_RETRY_MAX_INTERVAL: { min: 100, max: 24 * H },
  // The relay's sweep for a missed notification: under 100 ms it is a query
  // loop; past an hour a missed notification waits that long (the reconcile
  // Schedule is still the last net).
  MAILER_RELAY_SWEEP_INTERVAL: { min: 100, max: H },
} as const satisfies Record<string, Range>;

export const INTEGER_BOUNDS = {
  // 0 = unlimited. With the 10 min cap 10000 attempts take ~69 days; more is a
  // typo for "unlimited", and Temporal's counter is a 32-bit integer.
  DELIVER_MAX_ATTEMPTS: { min: 0, max: 10_000 },
  // Providers cap concurrent connections per account far below 100 per process.
  SMTP_POOL_SIZE: { min: 1, max: 100 },
  // Each delivery holds a Postgres client (the pool is this + 8), and Postgres
  // allows 100 connections by default: 1000 per worker is a typo.
  WORKER_MAX_CONCURRENT_DELIVERIES: { min: 1, max: 1000 },
  WORKER_MAX_CONCURRENT_ACTIVITIES: { min: 1, max: 1000 },
  // A purge batch holds its row locks until it commits: past 10000 rows it
  // competes with the hot path.
  MAILER_PURGE_BATCH_SIZE: { min: 1, max: 10_000 },
  // Webhook POSTs in flight per worker: a receiver is one app, not a CDN.
  WEBHOOK_CONCURRENCY: { min: 1, max: 100 },
} as const satisfies Record<string, Range>;

/** EMAIL_RATE_LIMIT, per second: under one an hour nothing is ever sent; no provider takes 10000/s from one account. */
export const RATE_BOUNDS: Range = { min: 1 / 3600, max: 10_000 };

/**
 * The per-recipient limit (EMAIL_PER_RECIPIENT_LIMIT and `mailer limits set`):
 * both numbers are Postgres integers (the stored limit and make_interval), and a
 * window beyond a year outlives any retention of the records it counts.
 */
export const WINDOW_LIMIT_BOUNDS = {
  maxEmails: { min: 1, max: 1_000_000 },
  windowMinutes: { min: 1, max: 365 * 24 * 60 },
} as const satisfies Record<string, Range>;

/** Temporal names (namespace, task queue): the server takes up to 1000 bytes, `-deliver` is appended, and every task carries them. */
export const NAME_MAX = 200;

/** DKIM keys: RFC 8301 forbids verifiers to accept RSA keys under 1024 bits. */
export const DKIM_MIN_BITS = 1024;

/** 100 → "100ms", 90000 → "90s", 7200000 → "2h": the largest unit that divides evenly. */
export function formatMs(ms: number): string {
  for (const [unit, size] of [
    ['h', H],
    ['m', M],
    ['s', S],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A value as an error message may show it: quoted, control characters escaped, never long. */
export function shown(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}…` : value);
}

/** `what` names the part of a compound value at fault (the window of a limit). */
export function checkRange(
  name: string,
  raw: string,
  value: number,
  range: Range,
  format: (n: number) => string = String,
  what = '',
): number {
  if (!(value >= range.min && value <= range.max)) {
    throw new ConfigError(name, `${what}${shown(raw)} must be between ${format(range.min)} and ${format(range.max)}`);
  }
  return value;
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/** A DNS name as a Message-ID or DKIM d= may carry it: letters, digits, hyphens; labels ≤ 63; ≤ 253 in all. */
export function checkDomain(name: string, value: string): string {
  if (value.length > 253)
    throw new ConfigError(name, `is ${value.length} characters long; a domain name has at most 253`);
  if (!value.split('.').every((label) => LABEL.test(label))) {
    throw new ConfigError(
      name,
      `${shown(value)} is not a domain name (letters, digits and hyphens, dot-separated, e.g. mail.example.com)`,
    );
  }
  return value;
}

/** A DKIM selector: one or more DNS labels (it becomes <selector>._domainkey.<domain>). */
export function checkSelector(name: string, value: string): string {
  if (value.length > 63 || !value.split('.').every((label) => LABEL.test(label) || /^[a-z0-9_]+$/i.test(label))) {
    throw new ConfigError(
      name,
      `${shown(value)} is not a DKIM selector (DNS labels: letters, digits, hyphens; e.g. mail2026)`,
    );
  }
  return value;
}

/** A Temporal name: printable, no spaces or control characters, 1–200 characters. */
export function checkName(name: string, value: string): string {
  if (value.length > NAME_MAX) throw new ConfigError(name, `is ${value.length} characters long; at most ${NAME_MAX}`);
  if (/[\s\p{Cc}]/u.test(value)) throw new ConfigError(name, `${shown(value)} contains a space or a control character`);
  return value;
}

/** `host:port` (or, with `portOptional`, `host`): a DNS name, IPv4 or [IPv6], and a port 1–65535. */
export function checkHostPort(name: string, value: string, { portOptional = false } = {}): string {
  const match = /^(\[[0-9a-f.:]+\]|[a-z0-9_.-]+)(?::(\d{1,10}))?$/i.exec(value);
  if (!match || (match[2] === undefined && !portOptional)) {
    throw new ConfigError(
      name,
      `${shown(value)} is not host:port (e.g. 127.0.0.1:9464, [::1]:9464, metrics.internal:9464)`,
    );
  }
  if (match[2] !== undefined) {
    const port = Number(match[2]);
    if (port < 1 || port > 65_535) throw new ConfigError(name, `port ${port} must be between 1 and 65535`);
  }
  return value;
}

/**
 * The DKIM key must be one nodemailer can sign with: it signs rsa-sha256 and,
 * when signing fails, sends the message unsigned without a word. So it is
 * parsed here, and must be RSA of at least 1024 bits. The key never appears
 * in a message.
 */
export function checkDkimKey(name: string, pem: string): string {
  if (!pem.includes('PRIVATE KEY-----'))
    throw new ConfigError(name, 'must hold a PEM private key (-----BEGIN PRIVATE KEY-----…)');
  let key;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new ConfigError(name, 'cannot be parsed as a private key (corrupt, or protected by a passphrase)');
  }
  if (key.asymmetricKeyType !== 'rsa')
    throw new ConfigError(
      name,
      `is a ${key.asymmetricKeyType ?? 'non-RSA'} key; DKIM signing here uses RSA (rsa-sha256)`,
    );
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < DKIM_MIN_BITS)
    throw new ConfigError(name, `is a ${bits}-bit RSA key; receivers refuse DKIM keys under ${DKIM_MIN_BITS} bits`);
  return pem;
}
