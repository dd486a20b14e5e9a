import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { parseKeys } from './codec.ts';
import { ConfigError } from './errors.ts';

// The one place the service reads its environment. Every setting has an
// explicit default and is validated once at start, so a typo fails loudly
// instead of silently falling back. Credentials are read here and never logged:
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
  observability: {
    logLevel: 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
    logFormat: 'json' | 'pretty';
    /** host:port of the worker's Prometheus /metrics endpoint; undefined = none. */
    metricsAddress: string | undefined;
  };
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

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

/** "500ms", "2s", "10m", "1h" → milliseconds. */
export function parseDuration(value: string, name = 'duration'): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)$/.exec(value.trim());
  if (!match) throw new ConfigError(name, `"${value}" is not a duration like 500ms, 2s, 10m or 1h`);
  return Math.round(Number(match[1]) * UNITS[match[2]!]!);
}

function duration(env: Env, name: string, fallback: string): number {
  return parseDuration(get(env, name) ?? fallback, name);
}

function integer(env: Env, name: string, fallback: number, min = 0): number {
  const raw = get(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min) throw new ConfigError(name, `"${raw}" is not a whole number ≥ ${min}`);
  return Number(raw);
}

/** "5/s", "50/m", "3000/h" → per second. */
export function parseRate(value: string, name = 'rate'): number {
  const match = /^(\d+(?:\.\d+)?)\s*\/\s*(s|m|min|h)$/.exec(value.trim());
  if (!match || Number(match[1]) <= 0) throw new ConfigError(name, `"${value}" is not a rate like 5/s, 50/m or 3000/h`);
  return (Number(match[1]) * 1000) / UNITS[match[2]!]!;
}

/** "10/60m" or "10/1h": X emails per Y minutes. */
export function parseWindowLimit(value: string, name = 'limit'): { maxEmails: number; windowMinutes: number } {
  const match = /^(\d+)\s*\/\s*(\d+)\s*(m|min|h)$/.exec(value.trim());
  if (!match || Number(match[1]) < 1 || Number(match[2]) < 1) {
    throw new ConfigError(name, `"${value}" is not a limit like 10/60m (10 emails per 60 minutes)`);
  }
  return { maxEmails: Number(match[1]), windowMinutes: Number(match[2]) * (match[3] === 'h' ? 60 : 1) };
}

/** An address or a whole domain (`@example.com`), lower-cased. */
export function parseRulePattern(value: string, name = 'pattern'): string {
  const pattern = value.trim().toLowerCase();
  if (!/^([a-z0-9!#$%&'*+/=?^_`{|}~.-]+)?@[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(pattern)) {
    throw new ConfigError(name, `"${value}" is neither an address (a@example.com) nor a domain (@example.com)`);
  }
  return pattern;
}

function list(env: Env, name: string): string[] {
  const raw = get(env, name);
  return raw ? raw.split(',').filter((p) => p.trim()).map((p) => parseRulePattern(p, name)) : [];
}

function oneOf<const T extends readonly string[]>(env: Env, name: string, values: T, fallback: T[number]): T[number] {
  const raw = get(env, name);
  if (raw === undefined) return fallback;
  const value = values.find((v) => v.toLowerCase() === raw.toLowerCase());
  if (!value) throw new ConfigError(name, `"${raw}" must be one of ${values.join(', ')}`);
  return value;
}

function hostPort(env: Env, name: string): string | undefined {
  const raw = get(env, name);
  if (raw === undefined) return undefined;
  if (!/^[A-Za-z0-9.:[\]-]+:\d{1,5}$/.test(raw)) throw new ConfigError(name, `"${raw}" is not host:port (e.g. 127.0.0.1:9464)`);
  return raw;
}

function dkim(env: Env): Config['smtp']['dkim'] {
  const domainName = get(env, 'DKIM_DOMAIN');
  const keySelector = get(env, 'DKIM_SELECTOR');
  const inline = get(env, 'DKIM_PRIVATE_KEY');
  const file = get(env, 'DKIM_PRIVATE_KEY_FILE');
  if (!domainName && !keySelector && !inline && !file) return undefined;
  if (!domainName) throw new ConfigError('DKIM_DOMAIN', 'is required when DKIM signing is configured');
  if (!keySelector) throw new ConfigError('DKIM_SELECTOR', 'is required when DKIM signing is configured');
  let privateKey = inline?.replace(/\\n/g, '\n');
  if (!privateKey && file) {
    try {
      privateKey = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError('DKIM_PRIVATE_KEY_FILE', `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  if (!privateKey?.includes('PRIVATE KEY-----')) throw new ConfigError(privateKey ? 'DKIM_PRIVATE_KEY' : 'DKIM_PRIVATE_KEY_FILE', 'must hold a PEM private key');
  return { domainName, keySelector, privateKey };
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

function uncertainPolicy(value: string): DeliverPolicy['onUncertain'] {
  if (value !== 'resend' && value !== 'hold') throw new ConfigError('UNCERTAIN_DELIVERY_POLICY', `"${value}" must be resend or hold`);
  return value;
}

function temporalConnection(env: Env) {
  const vars = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && e[0].startsWith('TEMPORAL_')));
  try {
    return loadClientConnectConfig({ overrideEnvVars: vars, ...(vars.TEMPORAL_CONFIG_FILE ? { configSource: { path: vars.TEMPORAL_CONFIG_FILE } } : {}) });
  } catch (err) {
    throw new ConfigError(vars.TEMPORAL_CONFIG_FILE ? 'TEMPORAL_CONFIG_FILE' : 'TEMPORAL_PROFILE', (err as Error).message);
  }
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function schemaName(env: Env): string {
  const value = get(env, 'MAILER_SCHEMA') ?? 'mailer';
  if (!SCHEMA_NAME.test(value)) throw new ConfigError('MAILER_SCHEMA', `"${value}" must be a lower-case Postgres identifier (letters, digits, _; at most 63)`);
  if (value === 'public' || value.startsWith('pg_')) throw new ConfigError('MAILER_SCHEMA', `"${value}" is reserved: the service keeps its tables in a schema of its own`);
  return value;
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = get(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (['on', 'true', '1', 'yes'].includes(raw)) return true;
  if (['off', 'false', '0', 'no'].includes(raw)) return false;
  throw new ConfigError(name, `"${raw}" must be on or off`);
}

export interface ClientConfigOptions {
  /** A caller that brings its own pool needs no database URL. */
  requireDatabaseUrl?: boolean;
}

/** The client's settings only: never reads (or fails on) the worker's variables. */
export function loadClientConfig(env: Env = process.env, { requireDatabaseUrl = true }: ClientConfigOptions = {}): ClientConfig {
  const connect = temporalConnection(env);
  const databaseVar = get(env, 'MAILER_DATABASE_URL') !== undefined ? 'MAILER_DATABASE_URL' : 'DATABASE_URL';
  const databaseUrl = url(env, databaseVar, ['postgres:', 'postgresql:'], 'e.g. postgres://user:pass@host:5432/app');
  if (!databaseUrl && requireDatabaseUrl) throw new ConfigError('DATABASE_URL', 'is not set (e.g. postgres://user:pass@host:5432/app; MAILER_DATABASE_URL takes precedence)');
  return {
    temporal: {
      address: connect.connectionOptions.address ?? '127.0.0.1:7233',
      namespace: connect.namespace ?? 'default',
      connection: {
        ...(connect.connectionOptions.tls !== undefined ? { tls: connect.connectionOptions.tls } : {}),
        ...(connect.connectionOptions.apiKey ? { apiKey: connect.connectionOptions.apiKey } : {}),
        ...(connect.connectionOptions.metadata ? { metadata: connect.connectionOptions.metadata } : {}),
      },
      taskQueue: get(env, 'TEMPORAL_TASK_QUEUE') ?? 'email',
      uiUrl: (get(env, 'TEMPORAL_UI_URL') ?? 'http://127.0.0.1:8233').replace(/\/+$/, ''),
    },
    databaseUrl: databaseUrl ?? '',
    database: { schema: schemaName(env), migrate: flag(env, 'MAILER_MIGRATE', true) },
    startTimeoutMs: duration(env, 'MAILER_START_TIMEOUT', '5s'),
    messageIdDomain: get(env, 'MESSAGE_ID_DOMAIN'),
    payloadKeys: payloadKeys(env),
    reconcile: {
      intervalMs: get(env, 'RECONCILE_INTERVAL') === 'off' ? undefined : duration(env, 'RECONCILE_INTERVAL', '5m'),
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
  if (deliver.heartbeatMs >= deliver.startToCloseMs) {
    throw new ConfigError('DELIVER_HEARTBEAT_TIMEOUT', 'must be shorter than DELIVER_TIMEOUT');
  }
  if (duration(env, 'SMTP_SOCKET_TIMEOUT', '30s') >= deliver.startToCloseMs) {
    throw new ConfigError('SMTP_SOCKET_TIMEOUT', 'must be shorter than DELIVER_TIMEOUT, so a hung server fails the attempt before Temporal times it out');
  }
  const relaySweepMs = duration(env, 'MAILER_RELAY_SWEEP_INTERVAL', '5s');
  if (relaySweepMs < 100) throw new ConfigError('MAILER_RELAY_SWEEP_INTERVAL', 'must be at least 100ms');
  return {
    ...client,
    smtpUrl: url(env, 'SMTP_URL', ['smtp:', 'smtps:'], 'e.g. smtp://user:pass@smtp.example.com:587'),
    smtp: {
      poolSize: integer(env, 'SMTP_POOL_SIZE', 8, 1),
      allowPlaintext: get(env, 'SMTP_ALLOW_PLAINTEXT') === 'true',
      socketTimeoutMs: duration(env, 'SMTP_SOCKET_TIMEOUT', '30s'),
      dkim: dkim(env),
    },
    deliver,
    worker: {
      rateLimitPerSecond: rate ? parseRate(rate, 'EMAIL_RATE_LIMIT') : undefined,
      maxConcurrentDeliveries: integer(env, 'WORKER_MAX_CONCURRENT_DELIVERIES', 32, 1),
      maxConcurrentActivities: integer(env, 'WORKER_MAX_CONCURRENT_ACTIVITIES', 64, 1),
      shutdownGraceMs: duration(env, 'WORKER_SHUTDOWN_GRACE', '30s'),
      relaySweepMs,
    },
    rules: {
      allow: list(env, 'EMAIL_ALLOW'),
      deny: list(env, 'EMAIL_DENY'),
      perRecipient: perRecipient ? parseWindowLimit(perRecipient, 'EMAIL_PER_RECIPIENT_LIMIT') : undefined,
    },
    observability: {
      logLevel: oneOf(env, 'MAILER_LOG_LEVEL', ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const, 'INFO'),
      logFormat: oneOf(env, 'MAILER_LOG_FORMAT', ['json', 'pretty'] as const, 'json'),
      metricsAddress: hostPort(env, 'MAILER_METRICS_ADDRESS'),
    },
  };
}

/** The task queue of `deliver`: its own, so Temporal's task-queue rate limit covers deliveries only. */
export function deliverTaskQueue(taskQueue: string): string {
  return `${taskQueue}-deliver`;
}

/** Replaces the password in a URL so it can be printed. */
export function maskUrl(value: string): string {
  try {
    const parsed = new URL(value);
    if (parsed.password) parsed.password = '****';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
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
  };
}
