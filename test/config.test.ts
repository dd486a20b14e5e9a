// Every setting, with values that must load (and be read as meant), values at
// the edge of its bounds, and values that must stop the process with the
// variable's name. Pure: no stack, no network.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DURATION_BOUNDS, formatMs, INTEGER_BOUNDS, RATE_BOUNDS, WINDOW_LIMIT_BOUNDS } from '../src/config-bounds.ts';
import { type Config, ConfigError, loadClientConfig, loadConfig } from '../src/config.ts';

const BASE = { DATABASE_URL: 'postgres://u:p@db:5432/app' };

const pem = (key: { export(o: { type: 'pkcs8'; format: 'pem' }): string | Buffer }) =>
  key.export({ type: 'pkcs8', format: 'pem' }).toString();
const rsa = (bits: number) => pem(generateKeyPairSync('rsa', { modulusLength: bits }).privateKey);
const RSA_2048 = rsa(2048);
const RSA_1024 = rsa(1024);
const RSA_512 = rsa(512);
const EC_P256 = pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
const ENCRYPTED = generateKeyPairSync('rsa', { modulusLength: 1024 })
  .privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' })
  .toString();
const CORRUPT = `-----BEGIN PRIVATE KEY-----\n${randomBytes(600).toString('base64')}\n-----END PRIVATE KEY-----\n`;
const keyDir = mkdtempSync(path.join(os.tmpdir(), 'mailer-config-'));
const keyFile = (name: string, text: string) => {
  const file = path.join(keyDir, name);
  writeFileSync(file, text);
  return file;
};
const DKIM = { DKIM_DOMAIN: 'acme.example', DKIM_SELECTOR: 'mail2026', DKIM_PRIVATE_KEY: RSA_2048 };
const DKIM_BY_FILE = {
  DKIM_DOMAIN: 'acme.example',
  DKIM_SELECTOR: 'mail2026',
  DKIM_PRIVATE_KEY_FILE: keyFile('good.pem', RSA_2048),
};
const key32 = () => randomBytes(32).toString('base64');
const K1 = key32();
const K2 = key32();

interface Case {
  /** Other variables the values need (e.g. the rest of a DKIM configuration). */
  with?: Record<string, string>;
  /** What the loaded configuration holds for this variable. */
  read?: (c: Config) => unknown;
  /** Values that load; with `read`, [raw, expected] pairs are checked. */
  good: (string | [string, unknown])[];
  /** The smallest and largest accepted values. */
  edge?: [string, unknown][];
  /** Values that must stop the process: [raw, what the reason says]. */
  bad: [string, RegExp][];
}

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const outOfRange = /must be between/;

const HOOK = { WEBHOOK_URL: 'https://app.example/hooks/mail', WEBHOOK_SECRET: 'a-webhook-secret-0123456789' };

const CASES: Record<string, Case> = {
  WEBHOOK_URL: {
    with: { WEBHOOK_SECRET: HOOK.WEBHOOK_SECRET },
    read: (c) => c.webhook?.url,
    good: [
      ['https://app.example/hooks/mail', 'https://app.example/hooks/mail'],
      ['http://127.0.0.1:9000/hook', 'http://127.0.0.1:9000/hook'],
    ],
    bad: [
      ['http://app.example/hook', /https/],
      ['ftp://app.example/hook', /https:\/\//],
      ['not a url', /URL/],
    ],
  },
  WEBHOOK_SECRET: {
    with: { WEBHOOK_URL: HOOK.WEBHOOK_URL },
    read: (c) => c.webhook?.secret,
    good: [['a-webhook-secret-0123456789', 'a-webhook-secret-0123456789']],
    edge: [['0123456789abcdef', '0123456789abcdef']],
    bad: [['short', /16 characters/]],
  },
  WEBHOOK_TIMEOUT: {
    with: HOOK,
    read: (c) => c.webhook?.timeoutMs,
    good: [['10s', 10 * S]],
    edge: [
      ['100ms', 100],
      ['1m', M],
    ],
    bad: [
      ['99ms', outOfRange],
      ['2m', outOfRange],
      ['soon', /duration/],
    ],
  },
  WEBHOOK_RETRY_INITIAL_INTERVAL: {
    with: HOOK,
    read: (c) => c.webhook?.initialIntervalMs,
    good: [['5s', 5 * S]],
    edge: [
      ['100ms', 100],
      ['10m', 10 * M],
    ],
    bad: [
      ['0s', outOfRange],
      ['2h', outOfRange],
    ],
  },
  WEBHOOK_RETRY_MAX_INTERVAL: {
    with: HOOK,
    read: (c) => c.webhook?.maximumIntervalMs,
    good: [['10m', 10 * M]],
    edge: [
      ['5s', 5 * S],
      ['24h', 24 * H],
    ],
    bad: [
      ['25h', outOfRange],
      ['1s', /at least WEBHOOK_RETRY_INITIAL_INTERVAL/],
    ],
  },
  WEBHOOK_CONCURRENCY: {
    with: HOOK,
    read: (c) => c.webhook?.concurrency,
    good: [['8', 8]],
    edge: [
      ['1', 1],
      ['100', 100],
    ],
    bad: [
      ['0', outOfRange],
      ['101', outOfRange],
      ['many', /whole number/],
    ],
  },
  TEMPORAL_ADDRESS: {
    read: (c) => c.temporal.address,
    good: [['temporal.internal:7233', 'temporal.internal:7233'], '10.0.0.5:7233', '[::1]:7233', 'localhost'],
    edge: [
      ['temporal.internal:1', 'temporal.internal:1'],
      ['temporal.internal:65535', 'temporal.internal:65535'],
    ],
    bad: [
      ['temporal.internal:0', /port/],
      ['temporal.internal:99999', /port/],
      ['http://temporal.internal:7233', /host:port/],
      ['temporal internal:7233', /host:port/],
    ],
  },
  TEMPORAL_NAMESPACE: {
    read: (c) => c.temporal.namespace,
    good: [['ns.acct', 'ns.acct'], 'default'],
    edge: [
      ['n', 'n'],
      ['n'.repeat(200), 'n'.repeat(200)],
    ],
    bad: [
      ['n'.repeat(201), /200/],
      ['my namespace', /space/],
      ['ns\r\nx', /space|control/],
    ],
  },
  TEMPORAL_TASK_QUEUE: {
    read: (c) => c.temporal.taskQueue,
    good: [['email', 'email'], 'mail-prod.eu'],
    edge: [
      ['q', 'q'],
      ['q'.repeat(200), 'q'.repeat(200)],
    ],
    bad: [
      ['q'.repeat(201), /200/],
      ['email queue', /space/],
      ['email\tx', /space|control/],
    ],
  },
  TEMPORAL_UI_URL: {
    read: (c) => c.temporal.uiUrl,
    good: [
      ['http://127.0.0.1:8233', 'http://127.0.0.1:8233'],
      ['https://cloud.temporal.io/', 'https://cloud.temporal.io'],
    ],
    bad: [
      ['javascript:alert(1)', /http:\/\/ or https:\/\//],
      ['ftp://ui.example', /http:\/\/ or https:\/\//],
      ['ui.example:8233', /http/],
    ],
  },
  DATABASE_URL: {
    read: (c) => c.databaseUrl,
    good: [['postgresql://db/app', 'postgresql://db/app'], 'postgres://u:p@db:5432/app'],
    bad: [
      ['mysql://db/app', /postgres:\/\//],
      ['db:5432/app', /postgres:\/\//],
    ],
  },
  MAILER_DATABASE_URL: {
    read: (c) => c.databaseUrl,
    good: [['postgres://mailer@db/app', 'postgres://mailer@db/app']],
    bad: [['mysql://db/app', /postgres:\/\//]],
  },
  MAILER_SCHEMA: {
    read: (c) => c.database.schema,
    good: [['app_mail', 'app_mail']],
    edge: [
      ['m', 'm'],
      ['m'.repeat(63), 'm'.repeat(63)],
    ],
    bad: [
      ['m'.repeat(64), /63/],
      ['public', /reserved/],
      ['pg_mail', /reserved/],
      ['Mailer', /lower-case/],
      ['mailer;drop', /identifier/],
    ],
  },
  MAILER_MIGRATE: {
    read: (c) => c.database.migrate,
    good: [
      ['off', false],
      ['on', true],
      ['false', false],
    ],
    bad: [['maybe', /on or off/]],
  },
  MAILER_START_TIMEOUT: {
    read: (c) => c.startTimeoutMs,
    good: [['5s', 5 * S]],
    edge: [
      ['100ms', 100],
      ['2m', 2 * M],
    ],
    bad: [
      ['99ms', outOfRange],
      ['0s', outOfRange],
      ['121s', outOfRange],
      ['5', /duration/],
      ['1e3s', /duration/],
    ],
  },
  MESSAGE_ID_DOMAIN: {
    read: (c) => c.messageIdDomain,
    good: [['mail.acme-corp.example', 'mail.acme-corp.example'], 'localhost'],
    edge: [[`${'a'.repeat(63)}.example`, `${'a'.repeat(63)}.example`]],
    bad: [
      ['acme.example\r\nBcc: victim@example.com', /domain name/],
      ['acme example', /domain name/],
      ['-acme.example', /domain name/],
      ['acme..example', /domain name/],
      [`${'a'.repeat(64)}.example`, /domain name/],
      ['@acme.example', /domain name/],
      [`${'a.'.repeat(127)}ab`, /253/],
    ],
  },
  PAYLOAD_ENCRYPTION_KEYS: {
    read: (c) => (c.payloadKeys ? [...c.payloadKeys.keys()] : undefined),
    good: [[`k2:${K2},k1:${K1}`, ['k2', 'k1']]],
    bad: [
      [`k1:${K1},k1:${K2}`, /"k1".*more than once/],
      ['k1:dG9vc2hvcnQ=', /32 bytes/],
      [`:${K1}`, /key id/],
      [K1, /entry 1 /],
      [`k1:${K1}:extra`, /32 bytes/],
    ],
  },
  RECONCILE_INTERVAL: {
    read: (c) => c.reconcile.intervalMs,
    good: [
      ['off', undefined],
      ['5m', 5 * M],
    ],
    edge: [
      ['1s', S],
      ['24h', 24 * H],
    ],
    bad: [
      ['0s', outOfRange],
      ['999ms', outOfRange],
      ['25h', outOfRange],
      ['never', /duration/],
    ],
  },
  EMAIL_CONTENT_RETENTION: {
    read: (c) => c.retention.contentAfterMs,
    good: [
      ['30d', 30 * 24 * H],
      ['off', undefined],
      ['45d', 45 * 24 * H],
    ],
    edge: [
      ['1h', H],
      ['3650d', 3650 * 24 * H],
    ],
    bad: [
      ['0d', outOfRange],
      ['59m', outOfRange],
      ['3651d', outOfRange],
      ['forever', /duration/],
    ],
  },
  EMAIL_RECORD_RETENTION: {
    read: (c) => c.retention.recordAfterMs,
    good: [
      ['off', undefined],
      ['400d', 400 * 24 * H],
    ],
    edge: [['3650d', 3650 * 24 * H]],
    bad: [
      ['0d', outOfRange],
      ['3651d', outOfRange],
      ['1d', /at least EMAIL_CONTENT_RETENTION/],
    ],
  },
  MAILER_PURGE_INTERVAL: {
    read: (c) => c.retention.intervalMs,
    good: [
      ['1h', H],
      ['off', undefined],
    ],
    edge: [
      ['1s', S],
      ['24h', 24 * H],
    ],
    bad: [
      ['0s', outOfRange],
      ['25h', outOfRange],
      ['hourly', /duration/],
    ],
  },
  MAILER_PURGE_BATCH_SIZE: {
    read: (c) => c.retention.batchSize,
    good: [['500', 500]],
    edge: [
      ['1', 1],
      ['10000', 10_000],
    ],
    bad: [
      ['0', outOfRange],
      ['10001', outOfRange],
      ['many', /whole number/],
    ],
  },
  MAILER_RELAY_SWEEP_INTERVAL: {
    read: (c) => c.worker.relaySweepMs,
    good: [['5s', 5 * S]],
    edge: [
      ['100ms', 100],
      ['1h', H],
    ],
    bad: [
      ['99ms', outOfRange],
      ['61m', outOfRange],
      ['often', /duration/],
    ],
  },
  MAILER_BACKLOG_INTERVAL: {
    read: (c) => c.observability.backlogIntervalMs,
    good: [['15s', 15 * S]],
    edge: [
      ['1s', S],
      ['1h', H],
    ],
    bad: [
      ['0s', outOfRange],
      ['61m', outOfRange],
    ],
  },
  RECONCILE_OLDER_THAN: {
    read: (c) => c.reconcile.olderThanMs,
    good: [['1m', M]],
    edge: [
      ['1s', S],
      ['24h', 24 * H],
    ],
    bad: [
      ['0s', outOfRange],
      ['25h', outOfRange],
    ],
  },
  SMTP_URL: {
    read: (c) => c.smtpUrl,
    good: [['smtp://u:p@smtp.example.com:587', 'smtp://u:p@smtp.example.com:587'], 'smtps://smtp.example.com:465'],
    bad: [
      ['http://smtp.example.com', /smtp:\/\//],
      ['not a url', /URL/],
    ],
  },
  SMTP_ALLOW_PLAINTEXT: {
    read: (c) => c.smtp.allowPlaintext,
    good: [
      ['true', true],
      ['false', false],
    ],
    bad: [],
  },
  SMTP_POOL_SIZE: {
    read: (c) => c.smtp.poolSize,
    good: [['8', 8]],
    edge: [
      ['1', 1],
      ['100', 100],
    ],
    bad: [
      ['0', outOfRange],
      ['101', outOfRange],
      ['1.5', /whole number/],
      ['-1', /whole number/],
      ['eight', /whole number/],
    ],
  },
  SMTP_SOCKET_TIMEOUT: {
    with: { DELIVER_TIMEOUT: '2h' },
    read: (c) => c.smtp.socketTimeoutMs,
    good: [['30s', 30 * S]],
    edge: [
      ['1s', S],
      ['1h', H],
    ],
    bad: [
      ['0s', outOfRange],
      ['999ms', outOfRange],
      ['61m', outOfRange],
    ],
  },
  DKIM_DOMAIN: {
    with: DKIM,
    read: (c) => c.smtp.dkim?.domainName,
    good: [['mail.acme.example', 'mail.acme.example']],
    bad: [
      ['acme.example\r\nX: y', /domain name/],
      ['acme example', /domain name/],
    ],
  },
  DKIM_SELECTOR: {
    with: DKIM,
    read: (c) => c.smtp.dkim?.keySelector,
    good: [
      ['mail2026', 'mail2026'],
      ['s1.eu', 's1.eu'],
    ],
    bad: [
      ['mail 2026', /selector/],
      ['s;t=y', /selector/],
    ],
  },
  DKIM_PRIVATE_KEY: {
    with: { DKIM_DOMAIN: 'acme.example', DKIM_SELECTOR: 'mail2026' },
    read: (c) => c.smtp.dkim?.privateKey.includes('PRIVATE KEY-----'),
    good: [
      [RSA_2048, true],
      [RSA_2048.replace(/\n/g, '\\n'), true],
    ],
    edge: [[RSA_1024, true]],
    bad: [
      ['not a key', /PEM private key/],
      [CORRUPT, /cannot be parsed/],
      [ENCRYPTED, /cannot be parsed/],
      [EC_P256, /RSA/],
      [RSA_512, /1024 bits/],
    ],
  },
  DKIM_PRIVATE_KEY_FILE: {
    with: { DKIM_DOMAIN: 'acme.example', DKIM_SELECTOR: 'mail2026' },
    read: (c) => c.smtp.dkim?.privateKey === RSA_2048,
    good: [[DKIM_BY_FILE.DKIM_PRIVATE_KEY_FILE, true]],
    bad: [
      [path.join(keyDir, 'missing.pem'), /cannot be read/],
      [keyFile('corrupt.pem', CORRUPT), /cannot be parsed/],
      [keyFile('ec.pem', EC_P256), /RSA/],
    ],
  },
  DELIVER_RETRY_INITIAL_INTERVAL: {
    with: { DELIVER_RETRY_MAX_INTERVAL: '1h' },
    read: (c) => c.deliver.initialIntervalMs,
    good: [['2s', 2 * S]],
    edge: [
      ['100ms', 100],
      ['1h', H],
    ],
    bad: [
      ['0s', outOfRange],
      ['99ms', outOfRange],
      ['61m', outOfRange],
    ],
  },
  DELIVER_RETRY_MAX_INTERVAL: {
    with: { DELIVER_RETRY_INITIAL_INTERVAL: '100ms' },
    read: (c) => c.deliver.maximumIntervalMs,
    good: [['10m', 10 * M]],
    edge: [
      ['100ms', 100],
      ['24h', 24 * H],
    ],
    bad: [
      ['0s', outOfRange],
      ['25h', outOfRange],
    ],
  },
  DELIVER_MAX_ATTEMPTS: {
    read: (c) => c.deliver.maximumAttempts,
    good: [['20', 20]],
    edge: [
      ['0', 0],
      ['10000', 10_000],
    ],
    bad: [
      ['10001', outOfRange],
      ['99999999999999999999', outOfRange],
      ['-1', /whole number/],
      ['1e3', /whole number/],
    ],
  },
  DELIVER_TIMEOUT: {
    with: { DELIVER_HEARTBEAT_TIMEOUT: '1s', SMTP_SOCKET_TIMEOUT: '1s' },
    read: (c) => c.deliver.startToCloseMs,
    good: [['60s', M]],
    edge: [
      ['2s', 2 * S],
      ['2h', 2 * H],
    ],
    bad: [
      ['1999ms', outOfRange],
      ['121m', outOfRange],
      ['1e20h', /duration/],
      ['100000000000000000000h', outOfRange],
    ],
  },
  DELIVER_HEARTBEAT_TIMEOUT: {
    with: { DELIVER_TIMEOUT: '11m' },
    read: (c) => c.deliver.heartbeatMs,
    good: [['15s', 15 * S]],
    edge: [
      ['1s', S],
      ['10m', 10 * M],
    ],
    bad: [
      ['0s', outOfRange],
      ['999ms', outOfRange],
      ['601s', outOfRange],
    ],
  },
  UNCERTAIN_DELIVERY_POLICY: {
    read: (c) => c.deliver.onUncertain,
    good: [
      ['hold', 'hold'],
      ['resend', 'resend'],
    ],
    bad: [['retry', /resend or hold/]],
  },
  WORKER_MAX_CONCURRENT_DELIVERIES: {
    read: (c) => c.worker.maxConcurrentDeliveries,
    good: [['32', 32]],
    edge: [
      ['1', 1],
      ['1000', 1000],
    ],
    bad: [
      ['0', outOfRange],
      ['1001', outOfRange],
    ],
  },
  WORKER_MAX_CONCURRENT_ACTIVITIES: {
    read: (c) => c.worker.maxConcurrentActivities,
    good: [['64', 64]],
    edge: [
      ['1', 1],
      ['1000', 1000],
    ],
    bad: [
      ['0', outOfRange],
      ['1001', outOfRange],
    ],
  },
  WORKER_SHUTDOWN_GRACE: {
    read: (c) => c.worker.shutdownGraceMs,
    good: [['30s', 30 * S]],
    edge: [
      ['1s', S],
      ['1h', H],
    ],
    bad: [
      ['0s', outOfRange],
      ['61m', outOfRange],
    ],
  },
  EMAIL_RATE_LIMIT: {
    read: (c) => c.worker.rateLimitPerSecond,
    good: [
      ['5/s', 5],
      ['50/m', 50 / 60],
      ['3000/h', 3000 / 3600],
      ['0.5/s', 0.5],
    ],
    edge: [
      ['1/h', 1 / 3600],
      ['10000/s', 10_000],
    ],
    bad: [
      ['5/s\nx', /rate like/],
      ['0.0000001/h', outOfRange],
      ['0.9/h', outOfRange],
      ['10001/s', outOfRange],
      ['0/s', /rate like/],
      ['fast', /rate like/],
      ['5', /rate like/],
    ],
  },
  EMAIL_PER_RECIPIENT_LIMIT: {
    read: (c) => c.rules.perRecipient,
    good: [
      ['10/60m', { maxEmails: 10, windowMinutes: 60 }],
      ['10/1h', { maxEmails: 10, windowMinutes: 60 }],
    ],
    edge: [
      ['1/1m', { maxEmails: 1, windowMinutes: 1 }],
      ['1000000/8760h', { maxEmails: 1_000_000, windowMinutes: 525_600 }],
      ['1/525600m', { maxEmails: 1, windowMinutes: 525_600 }],
    ],
    bad: [
      ['1/99999999h', /window .*must be between/],
      ['1/8761h', /window .*must be between/],
      ['1000001/1m', /emails .*must be between/],
      ['0/1m', /limit like/],
      ['1/0m', /limit like/],
      ['10', /limit like/],
    ],
  },
  EMAIL_DENY: {
    read: (c) => c.rules.deny,
    good: [['@Spam.example, a@b.example', ['@spam.example', 'a@b.example']]],
    bad: [
      ['not a pattern', /neither an address/],
      [`${'a'.repeat(250)}@x.example`, /254/],
    ],
  },
  EMAIL_ALLOW: {
    read: (c) => c.rules.allow,
    good: [['@acme.example', ['@acme.example']]],
    bad: [['acme.example', /neither an address/]],
  },
  MAILER_LOG_LEVEL: {
    read: (c) => c.observability.logLevel,
    good: [
      ['debug', 'DEBUG'],
      ['ERROR', 'ERROR'],
    ],
    bad: [
      ['LOUD', /one of/],
      ['INFO\r\n[worker] forged line', /one of/],
    ],
  },
  MAILER_LOG_FORMAT: {
    read: (c) => c.observability.logFormat,
    good: [['pretty', 'pretty']],
    bad: [['xml', /one of/]],
  },
  MAILER_METRICS_ADDRESS: {
    read: (c) => c.observability.metricsAddress,
    good: [['0.0.0.0:9464', '0.0.0.0:9464'], '[::]:9464', 'metrics.internal:9464'],
    edge: [
      ['127.0.0.1:1', '127.0.0.1:1'],
      ['127.0.0.1:65535', '127.0.0.1:65535'],
    ],
    bad: [
      ['127.0.0.1:99999', /port/],
      ['127.0.0.1:0', /port/],
      ['9464', /host:port/],
      ['http://127.0.0.1:9464', /host:port/],
    ],
  },
};

/** The variables a loader reads, recorded by handing it an environment that notes every lookup. */
function variablesRead(
  load: (env: Record<string, string | undefined>) => unknown,
  extra: Record<string, string> = {},
): Set<string> {
  const read = new Set<string>();
  const env = new Proxy({ ...BASE, ...extra } as Record<string, string | undefined>, {
    get(target, name) {
      if (typeof name === 'string') read.add(name);
      return target[name as string];
    },
  });
  load(env);
  // These reach the loaders through @temporalio/envconfig, which copies the environment instead of looking names up.
  for (const name of ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE']) read.add(name);
  return read;
}
const CLIENT_VARIABLES = variablesRead((env) => loadClientConfig(env));

/** The pieces of a secret value that an error message must never repeat. */
function secretParts(name: string, raw: string): string[] {
  if (name !== 'DKIM_PRIVATE_KEY' && name !== 'PAYLOAD_ENCRYPTION_KEYS') return [];
  return raw.split(/[,:\n]/).filter((part) => part.length >= 12 && !part.includes('-----'));
}

function failure(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw new Error(`expected a ConfigError, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected a ConfigError, but the configuration loaded');
}

describe('configuration bounds', () => {
  it('has a case for every variable the worker and the client read', () => {
    // Some variables are read only when the feature is on (the webhook's with WEBHOOK_URL).
    const read = [
      ...new Set([...variablesRead((env) => loadConfig(env)), ...variablesRead((env) => loadConfig(env), HOOK)]),
    ].sort();
    expect(read.filter((name) => !(name in CASES))).toEqual([]);
    expect(Object.keys(CASES).filter((name) => !read.includes(name))).toEqual([]);
  });

  describe.each(Object.entries(CASES))('%s', (name, c) => {
    const env = (value: string) => ({ ...BASE, ...c.with, [name]: value });
    const client = CLIENT_VARIABLES.has(name);
    const label = (raw: string) => JSON.stringify(raw.length > 40 ? `${raw.slice(0, 37)}…` : raw);
    const accepted = [...c.good, ...(c.edge ?? [])].map((v) =>
      typeof v === 'string'
        ? { raw: v, expected: undefined, check: false }
        : { raw: v[0], expected: v[1], check: true },
    );

    it.each(accepted.map((v) => ({ ...v, label: label(v.raw) })))('loads $label', ({ raw, expected, check }) => {
      const config = loadConfig(env(raw));
      if (check && c.read) expect(c.read(config)).toEqual(expected);
      if (client) loadClientConfig(env(raw));
    });

    if (c.bad.length) {
      it.each(c.bad.map(([raw, reason]) => ({ raw, reason, label: label(raw) })))(
        'refuses $label, naming the variable',
        ({ raw, reason }) => {
          const err = failure(() => loadConfig(env(raw)));
          expect(err.variable).toBe(name);
          expect(err.code).toBe('CONFIG');
          expect(err.message).toMatch(new RegExp(`^${name}: `));
          expect(err.message).toMatch(reason);
          // One line: a CR or LF from the value must not forge a log line.
          expect(err.message).not.toMatch(/[\r\n]/);
          for (const secret of secretParts(name, raw)) expect(err.message).not.toContain(secret);
          if (client) expect(failure(() => loadClientConfig(env(raw))).variable).toBe(name);
          else expect(() => loadClientConfig(env(raw))).not.toThrow();
        },
      );
    }
  });
});

describe('contradictory settings', () => {
  const cases: [string, Record<string, string>, string, RegExp][] = [
    [
      'a first retry later than the cap',
      { DELIVER_RETRY_INITIAL_INTERVAL: '2s', DELIVER_RETRY_MAX_INTERVAL: '1s' },
      'DELIVER_RETRY_INITIAL_INTERVAL',
      /DELIVER_RETRY_MAX_INTERVAL/,
    ],
    [
      'a heartbeat timeout as long as the attempt',
      { DELIVER_HEARTBEAT_TIMEOUT: '60s', DELIVER_TIMEOUT: '60s' },
      'DELIVER_HEARTBEAT_TIMEOUT',
      /shorter than DELIVER_TIMEOUT/,
    ],
    [
      'an SMTP socket timeout as long as the attempt',
      { SMTP_SOCKET_TIMEOUT: '60s' },
      'SMTP_SOCKET_TIMEOUT',
      /shorter than DELIVER_TIMEOUT/,
    ],
    [
      'two DKIM keys',
      { ...DKIM, DKIM_PRIVATE_KEY_FILE: DKIM_BY_FILE.DKIM_PRIVATE_KEY_FILE },
      'DKIM_PRIVATE_KEY',
      /not both/,
    ],
    [
      'a DKIM key without a selector',
      { DKIM_DOMAIN: 'acme.example', DKIM_PRIVATE_KEY: RSA_2048 },
      'DKIM_SELECTOR',
      /required/,
    ],
    [
      'a DKIM domain without a key',
      { DKIM_DOMAIN: 'acme.example', DKIM_SELECTOR: 'mail2026' },
      'DKIM_PRIVATE_KEY',
      /required/,
    ],
  ];
  it.each(cases)('refuses %s', (_, vars, variable, reason) => {
    const err = failure(() => loadConfig({ ...BASE, ...vars }));
    expect(err.variable).toBe(variable);
    expect(err.message).toMatch(reason);
  });

  it('accepts the same settings when they agree', () => {
    expect(
      loadConfig({ ...BASE, DELIVER_RETRY_INITIAL_INTERVAL: '1s', DELIVER_RETRY_MAX_INTERVAL: '1s' }).deliver
        .initialIntervalMs,
    ).toBe(S);
    expect(
      loadConfig({ ...BASE, DELIVER_HEARTBEAT_TIMEOUT: '59s', SMTP_SOCKET_TIMEOUT: '59s' }).deliver.heartbeatMs,
    ).toBe(59 * S);
  });

  it('requires a database URL unless the caller brings a pool', () => {
    expect(failure(() => loadConfig({})).variable).toBe('DATABASE_URL');
    expect(loadClientConfig({}, { requireDatabaseUrl: false }).databaseUrl).toBe('');
  });
});

describe('the configuration table (docs/configuration.md)', () => {
  const section = readFileSync(path.resolve(import.meta.dirname, '../docs/configuration.md'), 'utf8');
  const rows = section
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => line.split(' | '))
    .map(([names, _default, bounds]) => ({
      names: [...names!.matchAll(/`([A-Z_]+)`/g)].map((m) => m[1]!),
      bounds: bounds ?? '',
    }));
  const boundsOf = (name: string) => rows.find((r) => r.names.includes(name))?.bounds;

  it('documents every variable with its bounds', () => {
    const variables = [...variablesRead((env) => loadConfig(env)), ...variablesRead((env) => loadConfig(env), HOOK)];
    expect(variables.filter((name) => !boundsOf(name)?.trim())).toEqual([]);
  });

  it('states the bounds the code enforces', () => {
    const expected: Record<string, string> = {
      EMAIL_RATE_LIMIT: `${Math.round(RATE_BOUNDS.min * 3600)}/h … ${RATE_BOUNDS.max}/s`,
      EMAIL_PER_RECIPIENT_LIMIT: `${WINDOW_LIMIT_BOUNDS.maxEmails.min} … ${WINDOW_LIMIT_BOUNDS.maxEmails.max} emails per ${WINDOW_LIMIT_BOUNDS.windowMinutes.min}m … ${WINDOW_LIMIT_BOUNDS.windowMinutes.max / 60}h`,
    };
    for (const [name, { min, max }] of Object.entries(DURATION_BOUNDS))
      expected[name] = `${formatMs(min)} … ${formatMs(max)}`;
    for (const [name, { min, max }] of Object.entries(INTEGER_BOUNDS)) expected[name] = `${min} … ${max}`;
    const stated = Object.fromEntries(
      Object.keys(expected).map((name) => [name, boundsOf(name)?.slice(0, expected[name]!.length)]),
    );
    expect(stated).toEqual(expected);
  });
});
