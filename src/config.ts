import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { parseKeys } from './codec.ts';
import {
  checkDkimKey,
  checkDomain,
  checkHostPort,
  checkName,
  checkRange,
  checkSelector,
  DURATION_BOUNDS,
  formatMs,
  INTEGER_BOUNDS,
  RATE_BOUNDS,
  shown,
  WINDOW_LIMIT_BOUNDS,
} from './config-bounds.ts';
import { ConfigError } from './errors.ts';

// The one place the service reads its environment. Every setting has an
// explicit default and bounds (src/config-bounds.ts) and is validated once at
// start, so a typo fails loudly instead of silently falling back or stopping
// delivery later. Credentials are read here and never logged:
// `describeConfig` masks them.
//
// The library runs inside someone else's app, so it reads only its own
// documented variables: the client (`loadClientConfig`) reads the few it
// needs, never the worker's; names a host app may use for itself
// (LOG_LEVEL, METRICS_ADDRESS…) carry a MAILER_ prefix here.

export { ConfigError } from './errors.ts';

/** How `deliver` is retried; travels to the workflow in prepare's result, so it is part of history. */
export interface DeliverPolicy {
  initialIntervalMs: number;
  backoffCoefficient: number;
  maximumIntervalMs: number;
  /** 0 means unlimited. */
  maximumAttempts: number;
  startToCloseMs: number;
  heartbeatMs: number;
  /**
   * When an earlier attempt may have been accepted by the server but never
   * recorded: `resend` (at-least-once, same Message-ID) or `hold` (wait for
   * an operator's `mailer resolve`).
   */
  onUncertain: 'resend' | 'hold';
}

/** What the library client (`Mailer`) needs: Postgres, Temporal, the Message-ID domain and the payload keys. */
export interface ClientConfig {
  temporal: {
    address: string;
    namespace: string;
    /**
     * How to reach Temporal, the standard way (@temporalio/envconfig):
     * TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*,
     * or a profile (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE). Holds secrets: never print it.
     */
    connection: Pick<ConnectionOptions, 'tls' | 'apiKey' | 'metadata'>;
    taskQueue: string;
    /** Base URL of the Temporal Web UI, for links in `mailer` output. */
    uiUrl: string;
  };
  /** Empty only when the caller supplies its own pool. */
  databaseUrl: string;
  database: {
    /** The Postgres schema holding every table, function and the migration ledger (MAILER_SCHEMA, default `mailer`). */
    schema: string;
    /** Apply pending migrations on connect (MAILER_MIGRATE, default on); off for a role with row rights only. */
    migrate: boolean;
  };
  /** How long `send()` waits for Temporal to accept the workflow start before leaving it to the relay/reconciler. */
  startTimeoutMs: number;
  /** Right-hand side of every Message-ID: `<email-id@domain>`. */
  messageIdDomain: string | undefined;
  /** Encrypt every Temporal payload (PAYLOAD_ENCRYPTION_KEYS). Secret: never printed. */
  payloadKeys: Map<string, Buffer> | undefined;
  reconcile: {
    /** How often the Temporal Schedule resends lost emails; undefined = no schedule. */
    intervalMs: number | undefined;
    /** An email counts as lost only when its record has not changed for this long. */
    olderThanMs: number;
  };
}

/** Everything the worker needs: the client's settings plus SMTP, delivery, rules and observability. */
export interface Config extends ClientConfig {
  /** Only the worker sends mail; clients may leave it unset. */
  smtpUrl: string | undefined;
  smtp: {
    poolSize: number;
    /** Plain SMTP allowed to a non-loopback host (never by default). */
    allowPlaintext: boolean;
    /** Inactivity limit on an SMTP connection; must stay below DELIVER_TIMEOUT. */
    socketTimeoutMs: number;
    /** DKIM signing of every message, when configured. The key is a secret: never printed. */
    dkim: { domainName: string; keySelector: string; privateKey: string } | undefined;
  };
  deliver: DeliverPolicy;
  worker: {
    /** Deliveries per second across ALL workers of the task queue (Temporal's task-queue limit). */
    rateLimitPerSecond: number | undefined;
    maxConcurrentDeliveries: number;
    maxConcurrentActivities: number;
    shutdownGraceMs: number;
    /**
     * How often the relay sweeps the outbox even without a notification
     * (MAILER_RELAY_SWEEP_INTERVAL): covers a missed notification or a relay that was down.
     */
    relaySweepMs: number;
  };
  rules: {
    allow: string[];
    deny: string[];
    perRecipient: { maxEmails: number; windowMinutes: number } | undefined;
  };
  /** Where every email event is POSTed, signed; undefined = no webhook (events are still recorded). */
  webhook: WebhookConfig | undefined;
  observability: {
    logLevel: 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
    logFormat: 'json' | 'pretty';
    /** host:port of the worker's Prometheus /metrics endpoint; undefined = none. */
    metricsAddress: string | undefined;
    /** How often the backlog gauges are read from Postgres (the exporter cannot call back per scrape). */
    backlogIntervalMs: number;
  };
  /** What is kept of a final email, and for how long (src/email/retention.ts). */
  retention: {
    /** Bodies, attachments and addresses of an email final for this long are purged; undefined = kept forever. */
    contentAfterMs: number | undefined;
    /** Whole records final (and submitted) this long ago are deleted; undefined = never, the default. */
    recordAfterMs: number | undefined;
    /** How often the purge Schedule runs; undefined = no Schedule (`mailer purge` still works). */
    intervalMs: number | undefined;
    /** Emails per purge statement: small, so no statement holds its row locks for long. */
    batchSize: number;
  };
}

export interface WebhookConfig {
  /** https, or http on a loopback host only. May hold credentials: print it masked. */
  url: string;
  /** HMAC-SHA256 key of the signature header. Secret: never printed. */
  secret: string;
  /** One POST, connection to last byte. */
  timeoutMs: number;
  /** Backoff between attempts of one event: initial, doubling, capped. */
  initialIntervalMs: number;
  maximumIntervalMs: number;
  /** Emails whose events are POSTed at the same time (each email's events one after another). */
  concurrency: number;
}

type Env = Record<string, string | undefined>;

function get(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function url(env: Env, name: string, protocols: string[], hint: string): string | undefined {
  const value = get(env, name);
  if (value === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(name, `is not a valid URL (${hint})`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must start with ${protocols.map((p) => `${p}//`).join(' or ')} (${hint})`);
  }
  return value;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** "500ms", "2s", "10m", "1h", "30d" → milliseconds. */
export function parseDuration(value: string, name = 'duration'): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)$/.exec(value.trim());
  if (!match) throw new ConfigError(name, `${shown(value)} is not a duration like 500ms, 2s, 10m, 1h or 30d`);
  return Math.round(Number(match[1]) * UNITS[match[2]!]!);
}

/** The largest whole unit: 2592000000 → "30d"; undefined → "off". */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return 'off';
  const [unit, size] = (['d', 'h', 'm', 's'] as const)
    .map((u) => [u, UNITS[u]!] as const)
    .find(([, n]) => ms % n === 0) ?? ['ms', 1];
  return `${ms / size}${unit}`;
}

function duration(env: Env, name: keyof typeof DURATION_BOUNDS, fallback: string): number {
  const raw = get(env, name) ?? fallback;
  return checkRange(name, raw, parseDuration(raw, name), DURATION_BOUNDS[name], formatMs);
}

function integer(env: Env, name: keyof typeof INTEGER_BOUNDS, fallback: number): number {
  const raw = get(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `${shown(raw)} is not a whole number`);
  return checkRange(name, raw, Number(raw), INTEGER_BOUNDS[name]);
}

/** "5/s", "50/m", "3000/h" → per second. */
export function parseRate(value: string, name = 'rate'): number {
  const match = /^(\d+(?:\.\d+)?)\s*\/\s*(s|m|min|h)$/.exec(value.trim());
  if (!match || Number(match[1]) <= 0)
    throw new ConfigError(name, `${shown(value)} is not a rate like 5/s, 50/m or 3000/h`);
  const perSecond = (Number(match[1]) * 1000) / UNITS[match[2]!]!;
  return checkRange(name, value, perSecond, RATE_BOUNDS, (n) => (n < 1 ? `${Math.round(n * 3600)}/h` : `${n}/s`));
}

/** "10/60m" or "10/1h": X emails per Y minutes. */
export function parseWindowLimit(value: string, name = 'limit'): { maxEmails: number; windowMinutes: number } {
  const match = /^(\d+)\s*\/\s*(\d+)\s*(m|min|h)$/.exec(value.trim());
  if (!match || Number(match[1]) < 1 || Number(match[2]) < 1) {
    throw new ConfigError(name, `${shown(value)} is not a limit like 10/60m (10 emails per 60 minutes)`);
  }
  const maxEmails = checkRange(name, match[1]!, Number(match[1]), WINDOW_LIMIT_BOUNDS.maxEmails, String, 'emails ');
  const windowMinutes = Number(match[2]) * (match[3] === 'h' ? 60 : 1);
  const minutes = (n: number) => (n % 1440 === 0 ? `${n / 60}h (${n / 1440} days)` : n % 60 ? `${n}m` : `${n / 60}h`);
  checkRange(name, `${match[2]}${match[3]}`, windowMinutes, WINDOW_LIMIT_BOUNDS.windowMinutes, minutes, 'window ');
  return { maxEmails, windowMinutes };
}

/** An address or a whole domain (`@example.com`), lower-cased. */
export function parseRulePattern(value: string, name = 'pattern'): string {
  const pattern = value.trim().toLowerCase();
  if (pattern.length > 254)
    throw new ConfigError(name, `a pattern of ${pattern.length} characters is longer than any address (254)`);
  if (!/^([a-z0-9!#$%&'*+/=?^_`{|}~.-]+)?@[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(pattern)) {
    throw new ConfigError(name, `${shown(value)} is neither an address (a@example.com) nor a domain (@example.com)`);
  }
  return pattern;
}

function list(env: Env, name: string): string[] {
  const raw = get(env, name);
  return raw
    ? raw
        .split(',')
        .filter((p) => p.trim())
        .map((p) => parseRulePattern(p, name))
    : [];
}

function oneOf<const T extends readonly string[]>(env: Env, name: string, values: T, fallback: T[number]): T[number] {
  const raw = get(env, name);
  if (raw === undefined) return fallback;
  const value = values.find((v) => v.toLowerCase() === raw.toLowerCase());
  if (!value) throw new ConfigError(name, `${shown(raw)} must be one of ${values.join(', ')}`);
  return value;
}

function hostPort(env: Env, name: string): string | undefined {
  const raw = get(env, name);
  return raw === undefined ? undefined : checkHostPort(name, raw);
}

function dkim(env: Env): Config['smtp']['dkim'] {
  const domainName = get(env, 'DKIM_DOMAIN');
  const keySelector = get(env, 'DKIM_SELECTOR');
  const inline = get(env, 'DKIM_PRIVATE_KEY');
  const file = get(env, 'DKIM_PRIVATE_KEY_FILE');
  if (!domainName && !keySelector && !inline && !file) return undefined;
  if (!domainName) throw new ConfigError('DKIM_DOMAIN', 'is required when DKIM signing is configured');
  if (!keySelector) throw new ConfigError('DKIM_SELECTOR', 'is required when DKIM signing is configured');
  checkDomain('DKIM_DOMAIN', domainName);
  checkSelector('DKIM_SELECTOR', keySelector);
  if (inline && file)
    throw new ConfigError('DKIM_PRIVATE_KEY', 'is set together with DKIM_PRIVATE_KEY_FILE: set one, not both');
  if (!inline && !file)
    throw new ConfigError('DKIM_PRIVATE_KEY', 'is required when DKIM signing is configured (or DKIM_PRIVATE_KEY_FILE)');
  let privateKey = inline?.replace(/\\n/g, '\n');
  if (!privateKey && file) {
    try {
      privateKey = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(
        'DKIM_PRIVATE_KEY_FILE',
        `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
  }
  return {
    domainName,
    keySelector,
    privateKey: checkDkimKey(file ? 'DKIM_PRIVATE_KEY_FILE' : 'DKIM_PRIVATE_KEY', privateKey!),
  };
}

function payloadKeys(env: Env): Map<string, Buffer> | undefined {
  const raw = get(env, 'PAYLOAD_ENCRYPTION_KEYS');
  if (!raw) return undefined;
  try {
    return parseKeys(raw);
  } catch (err) {
    throw new ConfigError('PAYLOAD_ENCRYPTION_KEYS', (err as Error).message.replace(/^PAYLOAD_ENCRYPTION_KEYS: /, ''));
  }
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

function webhook(env: Env): WebhookConfig | undefined {
  const raw = get(env, 'WEBHOOK_URL');
  const secret = get(env, 'WEBHOOK_SECRET');
  if (raw === undefined) {
    if (secret !== undefined) throw new ConfigError('WEBHOOK_SECRET', 'is set but WEBHOOK_URL is not');
    return undefined;
  }
  const value = url(env, 'WEBHOOK_URL', ['https:', 'http:'], 'e.g. https://app.example.com/hooks/mail')!;
  // Events name recipients and SMTP replies: never in clear over a network.
  if (new URL(value).protocol === 'http:' && !LOOPBACK.test(new URL(value).hostname)) {
    throw new ConfigError('WEBHOOK_URL', 'must be https:// (plain http:// is accepted only for a loopback host)');
  }
  if (secret === undefined)
    throw new ConfigError('WEBHOOK_SECRET', 'is required with WEBHOOK_URL (e.g. the output of `openssl rand -hex 32`)');
  if (secret.length < 16) throw new ConfigError('WEBHOOK_SECRET', 'must be at least 16 characters');
  const timeoutMs = duration(env, 'WEBHOOK_TIMEOUT', '10s');
  const initialIntervalMs = duration(env, 'WEBHOOK_RETRY_INITIAL_INTERVAL', '5s');
  const maximumIntervalMs = duration(env, 'WEBHOOK_RETRY_MAX_INTERVAL', '10m');
  if (maximumIntervalMs < initialIntervalMs) {
    throw new ConfigError('WEBHOOK_RETRY_MAX_INTERVAL', 'must be at least WEBHOOK_RETRY_INITIAL_INTERVAL');
  }
  return {
    url: value,
    secret,
    timeoutMs,
    initialIntervalMs,
    maximumIntervalMs,
    concurrency: integer(env, 'WEBHOOK_CONCURRENCY', 8),
  };
}

function uncertainPolicy(value: string): DeliverPolicy['onUncertain'] {
  if (value !== 'resend' && value !== 'hold')
    throw new ConfigError('UNCERTAIN_DELIVERY_POLICY', `${shown(value)} must be resend or hold`);
  return value;
}

function temporalConnection(env: Env) {
  const vars = Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && e[0].startsWith('TEMPORAL_')),
  );
  try {
    return loadClientConnectConfig({
      overrideEnvVars: vars,
      ...(vars.TEMPORAL_CONFIG_FILE ? { configSource: { path: vars.TEMPORAL_CONFIG_FILE } } : {}),
    });
  } catch (err) {
    throw new ConfigError(
      vars.TEMPORAL_CONFIG_FILE ? 'TEMPORAL_CONFIG_FILE' : 'TEMPORAL_PROFILE',
      (err as Error).message,
    );
  }
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function schemaName(env: Env): string {
  const value = get(env, 'MAILER_SCHEMA') ?? 'mailer';
  if (!SCHEMA_NAME.test(value))
    throw new ConfigError(
      'MAILER_SCHEMA',
      `${shown(value)} must be a lower-case Postgres identifier (letters, digits, _; at most 63)`,
    );
  if (value === 'public' || value.startsWith('pg_'))
    throw new ConfigError(
      'MAILER_SCHEMA',
      `${shown(value)} is reserved: the service keeps its tables in a schema of its own`,
    );
  return value;
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = get(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (['on', 'true', '1', 'yes'].includes(raw)) return true;
  if (['off', 'false', '0', 'no'].includes(raw)) return false;
  throw new ConfigError(name, `${shown(raw)} must be on or off`);
}

export interface ClientConfigOptions {
  /** A caller that brings its own pool needs no database URL. */
  requireDatabaseUrl?: boolean;
}

/** The client's settings only: never reads (or fails on) the worker's variables. */
export function loadClientConfig(
  env: Env = process.env,
  { requireDatabaseUrl = true }: ClientConfigOptions = {},
): ClientConfig {
  const connect = temporalConnection(env);
  const databaseVar = get(env, 'MAILER_DATABASE_URL') !== undefined ? 'MAILER_DATABASE_URL' : 'DATABASE_URL';
  const databaseUrl = url(env, databaseVar, ['postgres:', 'postgresql:'], 'e.g. postgres://user:pass@host:5432/app');
  if (!databaseUrl && requireDatabaseUrl)
    throw new ConfigError(
      'DATABASE_URL',
      'is not set (e.g. postgres://user:pass@host:5432/app; MAILER_DATABASE_URL takes precedence)',
    );
  const messageIdDomain = get(env, 'MESSAGE_ID_DOMAIN');
  const reconcileInterval = get(env, 'RECONCILE_INTERVAL');
  return {
    temporal: {
      address: checkHostPort('TEMPORAL_ADDRESS', connect.connectionOptions.address ?? '127.0.0.1:7233', {
        portOptional: true,
      }),
      namespace: checkName('TEMPORAL_NAMESPACE', connect.namespace ?? 'default'),
      connection: {
        ...(connect.connectionOptions.tls !== undefined ? { tls: connect.connectionOptions.tls } : {}),
        ...(connect.connectionOptions.apiKey ? { apiKey: connect.connectionOptions.apiKey } : {}),
        ...(connect.connectionOptions.metadata ? { metadata: connect.connectionOptions.metadata } : {}),
      },
      taskQueue: checkName('TEMPORAL_TASK_QUEUE', get(env, 'TEMPORAL_TASK_QUEUE') ?? 'email'),
      // Printed as a link by `mailer`: only a web address, never javascript: or file:.
      uiUrl: (
        url(env, 'TEMPORAL_UI_URL', ['http:', 'https:'], 'the Web UI, e.g. http://127.0.0.1:8233') ??
        'http://127.0.0.1:8233'
      ).replace(/\/+$/, ''),
    },
    databaseUrl: databaseUrl ?? '',
    database: { schema: schemaName(env), migrate: flag(env, 'MAILER_MIGRATE', true) },
    startTimeoutMs: duration(env, 'MAILER_START_TIMEOUT', '5s'),
    // It ends up in a header: a CR or LF here would split it.
    messageIdDomain: messageIdDomain && checkDomain('MESSAGE_ID_DOMAIN', messageIdDomain),
    payloadKeys: payloadKeys(env),
    reconcile: {
      intervalMs: reconcileInterval?.toLowerCase() === 'off' ? undefined : duration(env, 'RECONCILE_INTERVAL', '5m'),
      olderThanMs: duration(env, 'RECONCILE_OLDER_THAN', '1m'),
    },
  };
}

/** The worker's settings: the client's plus SMTP, delivery, rules and observability. */
export function loadConfig(env: Env = process.env): Config {
  const client = loadClientConfig(env);
  const rate = get(env, 'EMAIL_RATE_LIMIT');
  const perRecipient = get(env, 'EMAIL_PER_RECIPIENT_LIMIT');
  const deliver: DeliverPolicy = {
    initialIntervalMs: duration(env, 'DELIVER_RETRY_INITIAL_INTERVAL', '2s'),
    backoffCoefficient: 2,
    maximumIntervalMs: duration(env, 'DELIVER_RETRY_MAX_INTERVAL', '10m'),
    maximumAttempts: integer(env, 'DELIVER_MAX_ATTEMPTS', 20),
    startToCloseMs: duration(env, 'DELIVER_TIMEOUT', '60s'),
    heartbeatMs: duration(env, 'DELIVER_HEARTBEAT_TIMEOUT', '15s'),
    onUncertain: uncertainPolicy(get(env, 'UNCERTAIN_DELIVERY_POLICY') ?? 'resend'),
  };
  // Temporal refuses such a retry policy inside the workflow, when it schedules
  // `deliver`: every email would stall there, its workflow task failing forever.
  if (deliver.initialIntervalMs > deliver.maximumIntervalMs) {
    throw new ConfigError(
      'DELIVER_RETRY_INITIAL_INTERVAL',
      `${formatMs(deliver.initialIntervalMs)} is longer than DELIVER_RETRY_MAX_INTERVAL (${formatMs(deliver.maximumIntervalMs)}): the first retry cannot wait longer than the cap`,
    );
  }
  if (deliver.heartbeatMs >= deliver.startToCloseMs) {
    throw new ConfigError('DELIVER_HEARTBEAT_TIMEOUT', 'must be shorter than DELIVER_TIMEOUT');
  }
  if (duration(env, 'SMTP_SOCKET_TIMEOUT', '30s') >= deliver.startToCloseMs) {
    throw new ConfigError(
      'SMTP_SOCKET_TIMEOUT',
      'must be shorter than DELIVER_TIMEOUT, so a hung server fails the attempt before Temporal times it out',
    );
  }
  const relaySweepMs = duration(env, 'MAILER_RELAY_SWEEP_INTERVAL', '5s');
  return {
    ...client,
    smtpUrl: url(env, 'SMTP_URL', ['smtp:', 'smtps:'], 'e.g. smtp://user:pass@smtp.example.com:587'),
    smtp: {
      poolSize: integer(env, 'SMTP_POOL_SIZE', 8),
      allowPlaintext: get(env, 'SMTP_ALLOW_PLAINTEXT') === 'true',
      socketTimeoutMs: duration(env, 'SMTP_SOCKET_TIMEOUT', '30s'),
      dkim: dkim(env),
    },
    deliver,
    worker: {
      rateLimitPerSecond: rate ? parseRate(rate, 'EMAIL_RATE_LIMIT') : undefined,
      maxConcurrentDeliveries: integer(env, 'WORKER_MAX_CONCURRENT_DELIVERIES', 32),
      maxConcurrentActivities: integer(env, 'WORKER_MAX_CONCURRENT_ACTIVITIES', 64),
      shutdownGraceMs: duration(env, 'WORKER_SHUTDOWN_GRACE', '30s'),
      relaySweepMs,
    },
    rules: {
      allow: list(env, 'EMAIL_ALLOW'),
      deny: list(env, 'EMAIL_DENY'),
      perRecipient: perRecipient ? parseWindowLimit(perRecipient, 'EMAIL_PER_RECIPIENT_LIMIT') : undefined,
    },
    webhook: webhook(env),
    observability: {
      logLevel: oneOf(env, 'MAILER_LOG_LEVEL', ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const, 'INFO'),
      logFormat: oneOf(env, 'MAILER_LOG_FORMAT', ['json', 'pretty'] as const, 'json'),
      metricsAddress: hostPort(env, 'MAILER_METRICS_ADDRESS'),
      backlogIntervalMs: duration(env, 'MAILER_BACKLOG_INTERVAL', '15s'),
    },
    retention: retention(env),
  };
}

/** A duration within its bounds, or `off`. */
function optionalDuration(env: Env, name: keyof typeof DURATION_BOUNDS, fallback: string): number | undefined {
  const raw = get(env, name) ?? fallback;
  if (raw.toLowerCase() === 'off') return undefined;
  return checkRange(name, raw, parseDuration(raw, name), DURATION_BOUNDS[name], formatMs);
}

function retention(env: Env): Config['retention'] {
  const contentAfterMs = optionalDuration(env, 'EMAIL_CONTENT_RETENTION', '30d');
  const recordAfterMs = optionalDuration(env, 'EMAIL_RECORD_RETENTION', 'off');
  // Records outliving their content is the point of two horizons; the reverse would keep content no record points to.
  if (recordAfterMs !== undefined && contentAfterMs !== undefined && recordAfterMs < contentAfterMs) {
    throw new ConfigError(
      'EMAIL_RECORD_RETENTION',
      'must be at least EMAIL_CONTENT_RETENTION (records outlive their content)',
    );
  }
  const batchSize = integer(env, 'MAILER_PURGE_BATCH_SIZE', 500);
  return { contentAfterMs, recordAfterMs, intervalMs: optionalDuration(env, 'MAILER_PURGE_INTERVAL', '1h'), batchSize };
}

/** The task queue of `deliver`: its own, so Temporal's task-queue rate limit covers deliveries only. */
export function deliverTaskQueue(taskQueue: string): string {
  return `${taskQueue}-deliver`;
}

/** Replaces the password in a URL (also one given as a query parameter, as pg allows) so it can be printed. */
export function maskUrl(value: string): string {
  try {
    const parsed = new URL(value);
    if (parsed.password) parsed.password = '****';
    for (const key of [...parsed.searchParams.keys()]) {
      if (/pass|secret|token|key/i.test(key)) parsed.searchParams.set(key, '****');
    }
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/** A webhook URL as it may be printed: a token can hide in the query as well as in the password. */
export function maskWebhookUrl(value: string): string {
  const parsed = new URL(maskUrl(value));
  return `${parsed.protocol}//${parsed.username ? `${parsed.username}:****@` : ''}${parsed.host}${parsed.pathname}${parsed.search ? '?****' : ''}`;
}

export function describeConfig(config: Config): Record<string, string | number | undefined> {
  return {
    TEMPORAL_ADDRESS: config.temporal.address,
    TEMPORAL_NAMESPACE: config.temporal.namespace,
    TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
    DATABASE_URL: maskUrl(config.databaseUrl),
    MAILER_SCHEMA: config.database.schema,
    SMTP_URL: config.smtpUrl && maskUrl(config.smtpUrl),
    PAYLOAD_ENCRYPTION: config.payloadKeys ? `on (keys: ${[...config.payloadKeys.keys()].join(', ')})` : 'off',
    DKIM: config.smtp.dkim ? `${config.smtp.dkim.keySelector}._domainkey.${config.smtp.dkim.domainName}` : 'off',
    EMAIL_RATE_LIMIT: config.worker.rateLimitPerSecond && `${config.worker.rateLimitPerSecond}/s`,
    DELIVER_MAX_ATTEMPTS: config.deliver.maximumAttempts,
    EMAIL_CONTENT_RETENTION: formatDuration(config.retention.contentAfterMs),
    EMAIL_RECORD_RETENTION: formatDuration(config.retention.recordAfterMs),
    WEBHOOK_URL: config.webhook && maskWebhookUrl(config.webhook.url),
  };
}
