// The one place the service reads its environment. Every setting has an
// explicit default and is validated once at start, so a typo fails loudly
// instead of silently falling back. Credentials are read here and never logged:
// `describeConfig` masks them.

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    reason: string,
  ) {
    super(`${variable}: ${reason}`);
  }
}

export interface Config {
  temporal: {
    address: string;
    namespace: string;
    taskQueue: string;
  };
  databaseUrl: string;
  smtpUrl: string;
}

type Env = Record<string, string | undefined>;

function required(env: Env, name: string, hint: string): string {
  const value = env[name]?.trim();
  if (!value) throw new ConfigError(name, `is not set (${hint})`);
  return value;
}

function url(env: Env, name: string, protocols: string[], hint: string): string {
  const value = required(env, name, hint);
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(name, 'is not a valid URL');
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must start with ${protocols.map((p) => `${p}//`).join(' or ')}`);
  }
  return value;
}

export function loadConfig(env: Env = process.env): Config {
  return {
    temporal: {
      address: env.TEMPORAL_ADDRESS?.trim() || '127.0.0.1:7233',
      namespace: env.TEMPORAL_NAMESPACE?.trim() || 'default',
      taskQueue: env.TEMPORAL_TASK_QUEUE?.trim() || 'email',
    },
    databaseUrl: url(env, 'DATABASE_URL', ['postgres:', 'postgresql:'], 'e.g. postgres://user:pass@host:5432/mailer'),
    smtpUrl: url(env, 'SMTP_URL', ['smtp:', 'smtps:'], 'e.g. smtp://user:pass@smtp.example.com:587'),
  };
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

export function describeConfig(config: Config): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: config.temporal.address,
    TEMPORAL_NAMESPACE: config.temporal.namespace,
    TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
    DATABASE_URL: maskUrl(config.databaseUrl),
    SMTP_URL: maskUrl(config.smtpUrl),
  };
}
