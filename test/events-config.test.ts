// Pure parts of events, webhooks, suppression and priority: the settings, the
// signature, the classifier of address refusals, the option checks.
import { describe, expect, it } from 'vitest';
import { addressRefusals, isAddressRefusal } from '../src/activities/smtp-errors.ts';
import { webhookDelayMs } from '../src/activities/webhooks.ts';
import { ConfigError, describeConfig, loadConfig } from '../src/config.ts';
import { validatePriority } from '../src/email/priority.ts';
import { signWebhook, verifyWebhook } from '../src/events/signature.ts';

const base = { DATABASE_URL: 'postgres://u:p@db.internal:5432/app', SMTP_URL: 'smtp://127.0.0.1:1025' };
const secret = 'a-webhook-secret-of-32-characters';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig({ ...base, ...env });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('no ConfigError');
}

describe('webhook settings', () => {
  it('accepts https anywhere and http on loopback only, and never prints the secret or a token', () => {
    const config = loadConfig({
      ...base,
      WEBHOOK_URL: 'https://hooks:pw@app.example.com/mail?token=abc',
      WEBHOOK_SECRET: secret,
    });
    expect(config.webhook).toMatchObject({
      timeoutMs: 10_000,
      initialIntervalMs: 5000,
      maximumIntervalMs: 600_000,
      concurrency: 8,
    });
    const printed = JSON.stringify(describeConfig(config));
    expect(printed).toContain('https://hooks:****@app.example.com/mail?****');
    expect(printed).not.toMatch(/abc|pw@|a-webhook-secret/);
    expect(loadConfig({ ...base, WEBHOOK_URL: 'http://127.0.0.1:9000/h', WEBHOOK_SECRET: secret }).webhook?.url).toBe(
      'http://127.0.0.1:9000/h',
    );
    expect(loadConfig({ ...base, WEBHOOK_URL: 'http://localhost/h', WEBHOOK_SECRET: secret }).webhook).toBeDefined();
    expect(loadConfig(base).webhook).toBeUndefined();
  });

  it('refuses what would leak or cannot work, naming the variable', () => {
    expect(configError({ WEBHOOK_URL: 'http://app.example.com/h', WEBHOOK_SECRET: secret })).toMatchObject({
      variable: 'WEBHOOK_URL',
      message: expect.stringContaining('https://'),
    });
    expect(configError({ WEBHOOK_URL: 'ftp://app.example.com/h', WEBHOOK_SECRET: secret }).variable).toBe(
      'WEBHOOK_URL',
    );
    expect(configError({ WEBHOOK_URL: 'https://app.example.com/h' })).toMatchObject({
      variable: 'WEBHOOK_SECRET',
      message: expect.stringContaining('required'),
    });
    expect(configError({ WEBHOOK_URL: 'https://app.example.com/h', WEBHOOK_SECRET: 'short' }).variable).toBe(
      'WEBHOOK_SECRET',
    );
    expect(configError({ WEBHOOK_SECRET: secret })).toMatchObject({
      variable: 'WEBHOOK_SECRET',
      message: expect.stringContaining('WEBHOOK_URL is not'),
    });
    expect(
      configError({ WEBHOOK_URL: 'https://a.example/h', WEBHOOK_SECRET: secret, WEBHOOK_TIMEOUT: '2m' }).variable,
    ).toBe('WEBHOOK_TIMEOUT');
    expect(
      configError({
        WEBHOOK_URL: 'https://a.example/h',
        WEBHOOK_SECRET: secret,
        WEBHOOK_RETRY_INITIAL_INTERVAL: '1m',
        WEBHOOK_RETRY_MAX_INTERVAL: '10s',
      }).variable,
    ).toBe('WEBHOOK_RETRY_MAX_INTERVAL');
  });

  it('backs off per event: doubling from the initial interval, capped, at least what Retry-After asks', () => {
    const hook = { initialIntervalMs: 5000, maximumIntervalMs: 600_000 };
    expect([1, 2, 3, 8, 20].map((n) => webhookDelayMs(hook, n))).toEqual([5000, 10_000, 20_000, 600_000, 600_000]);
    expect(webhookDelayMs(hook, 1, 60_000)).toBe(60_000);
    expect(webhookDelayMs(hook, 1, 3_600_000)).toBe(600_000);
  });
});

describe('webhook signature', () => {
  const body = '{"id":"7","type":"sent","emailId":"e","occurredAt":"2026-12-01T00:00:00.000Z","details":{}}';
  const now = Date.UTC(2026, 11, 1);
  const header = signWebhook(secret, body, now / 1000);

  it('verifies the exact body with the secret within the tolerance', () => {
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifyWebhook(secret, header, body, { now })).toBe(true);
    expect(verifyWebhook(secret, header, Buffer.from(body), { now: now + 299_000 })).toBe(true);
  });

  it('fails a changed body, another secret, an old or future timestamp and a malformed header', () => {
    expect(verifyWebhook(secret, header, body.replace('sent', 'failed'), { now })).toBe(false);
    expect(verifyWebhook(`${secret}x`, header, body, { now })).toBe(false);
    expect(verifyWebhook(secret, header, body, { now: now + 301_000 })).toBe(false);
    expect(verifyWebhook(secret, header, body, { now: now - 301_000 })).toBe(false);
    expect(verifyWebhook(secret, header.replace(/t=\d+/, `t=${now / 1000 + 1}`), body, { now })).toBe(false);
    for (const bad of [undefined, '', 'v1=abc', 't=1,v1=zz', `t=${now / 1000}`])
      expect(verifyWebhook(secret, bad, body, { now })).toBe(false);
  });
});

describe('address refusals', () => {
  it('counts 5.1.x as the address refused for good, and neither policy refusals nor temporary ones', () => {
    expect(isAddressRefusal('550 5.1.1 <a@b.example>: Recipient address rejected: User unknown')).toBe(true);
    expect(isAddressRefusal('550-5.1.1 The email account that you tried to reach does not exist.')).toBe(true);
    expect(isAddressRefusal('554 5.1.10 Recipient address has null MX')).toBe(true);
    expect(isAddressRefusal('550 5.7.1 Message rejected by policy')).toBe(false);
    expect(isAddressRefusal('450 4.1.1 Mailbox temporarily unavailable')).toBe(false);
    expect(isAddressRefusal('550 Requested action not taken: mailbox unavailable')).toBe(false);
    expect(isAddressRefusal('552 5.2.2 Mailbox full')).toBe(false);
  });

  it('reads the refused recipients from what nodemailer reports', () => {
    const err = {
      code: 'EENVELOPE',
      rejectedErrors: [
        { recipient: 'Gone@Example.com', response: '550 5.1.1 no such user', responseCode: 550 },
        { recipient: 'policy@example.com', response: '550 5.7.1 not allowed', responseCode: 550 },
      ],
    };
    expect(addressRefusals(err)).toEqual([{ address: 'gone@example.com', reply: '550 5.1.1 no such user' }]);
    expect(addressRefusals({ response: '250 ok' })).toEqual([]);
    expect(addressRefusals(undefined)).toEqual([]);
  });
});

describe('priority options', () => {
  it('maps the scale to Temporal priority keys and keeps fairness as given', () => {
    expect(validatePriority({ priority: 'high' })).toEqual({
      priority_key: 1,
      fairness_key: null,
      fairness_weight: null,
    });
    expect(validatePriority({ priority: 'normal' }).priority_key).toBeNull();
    expect(validatePriority({ priority: 'low', fairnessKey: 'tenant-42', fairnessWeight: 2.5 })).toEqual({
      priority_key: 5,
      fairness_key: 'tenant-42',
      fairness_weight: 2.5,
    });
  });

  it('refuses a bad value with the field and the reason', () => {
    const bad: [Parameters<typeof validatePriority>[0], string][] = [
      [{ priority: 'urgent' as 'high' }, 'priority'],
      [{ fairnessKey: '' }, 'fairnessKey'],
      [{ fairnessKey: 'x'.repeat(65) }, 'fairnessKey'],
      [{ fairnessKey: 'ann@example.com' }, 'fairnessKey'],
      [{ fairnessKey: 'a\nb' }, 'fairnessKey'],
      [{ fairnessKey: 't', fairnessWeight: 0 }, 'fairnessWeight'],
      [{ fairnessKey: 't', fairnessWeight: 1001 }, 'fairnessWeight'],
      [{ fairnessWeight: 2 }, 'fairnessWeight'],
    ];
    for (const [options, field] of bad)
      expect(() => validatePriority(options), JSON.stringify(options)).toThrow(
        expect.objectContaining({ code: 'INVALID_INPUT', field }),
      );
  });
});
