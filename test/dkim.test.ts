// DKIM signing: a delivered message carries a signature that verifies against
// the public key a receiver would find in DNS (served here by a stub resolver).
import { generateKeyPairSync } from 'node:crypto';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { createTestEnv, outcome, receivedMessages, type TestEnv } from './helpers.ts';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const dnsValue = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;

describe('DKIM', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ DKIM_DOMAIN: 'acme.example', DKIM_SELECTOR: 'mail2026', DKIM_PRIVATE_KEY: pem });
    await env.startWorker();
  });
  afterAll(() => env?.close());

  it('signs every delivered message so that it verifies with the published key', async () => {
    const sent = await env.client.send({
      from: 'billing@acme.example',
      to: 'ann@example.com',
      subject: 'Invoice',
      text: 'Signed.',
    });
    expect(await outcome(env, sent.workflowId)).toEqual({ status: 'sent' });
    await receivedMessages(env.sink, 1);
    const raw = env.sink.messages[0]!.raw;
    expect(raw.toString()).toMatch(/^DKIM-Signature: .*d=acme\.example/m);
    const resolver = async (name: string, type: string) => {
      if (type === 'TXT' && name === 'mail2026._domainkey.acme.example') return [[dnsValue]];
      throw Object.assign(new Error(`no ${type} for ${name}`), { code: 'ENOTFOUND' });
    };
    const result = await dkimVerify(raw, { resolver });
    expect(result.results.map((r) => r.status.result)).toEqual(['pass']);

    // A changed byte breaks it: the check is real.
    const tampered = Buffer.from(raw.toString().replace('Signed.', 'Signed!'));
    expect((await dkimVerify(tampered, { resolver })).results[0]!.status.result).not.toBe('pass');
  });

  it('refuses an incomplete DKIM configuration, naming the variable', () => {
    expect(() =>
      loadConfig({ DATABASE_URL: 'postgres://u:p@db/m', DKIM_DOMAIN: 'acme.example', DKIM_PRIVATE_KEY: pem }),
    ).toThrow(ConfigError);
    expect(() =>
      loadConfig({
        DATABASE_URL: 'postgres://u:p@db/m',
        DKIM_DOMAIN: 'acme.example',
        DKIM_SELECTOR: 's',
        DKIM_PRIVATE_KEY: 'not a key',
      }),
    ).toThrow(/^DKIM_PRIVATE_KEY: /);
  });
});
