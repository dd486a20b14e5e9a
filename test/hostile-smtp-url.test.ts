// SMTP_URL names the server and the credentials; its query string cannot
// weaken TLS, disable certificate checks, turn on logging or redirect the
// connection. Refused at worker start with a ConfigError naming SMTP_URL and
// the parameter, never its value (which may be a secret).
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { createSmtpTransport, smtpTransportOptions } from '../src/smtp.ts';

const smtp = loadConfig({ DATABASE_URL: 'postgres://u:p@db/m' }).smtp;
const BASE = 'smtp://mailer:s3cret@smtp.provider.example:587';

const REFUSED: [string, string][] = [
  ['plaintext to a remote host', `${BASE}?requireTLS=false&ignoreTLS=true`],
  ['STARTTLS ignored', `${BASE}?ignoreTLS=true`],
  ['certificate checks off', `${BASE}?tls.rejectUnauthorized=false`],
  ['weak ciphers', `${BASE}?tls.ciphers=NULL`],
  ['secure switched off on smtps', 'smtps://u:p@smtp.provider.example:465?secure=false'],
  ['the logger, printing every message', `${BASE}?logger=true`],
  ['protocol debugging', `${BASE}?debug=true`],
  ['another host', `${BASE}?host=evil.example`],
  ['another port', `${BASE}?port=25`],
  ['a well-known service', `${BASE}?service=gmail`],
  ['a proxy', `${BASE}?proxy=socks5://evil.example:1080`],
  ['the pool switched off', `${BASE}?pool=false`],
  ['a parameter whose value is a secret', `${BASE}?pass=hunter2-secret`],
  ['an allowed parameter given twice', `${BASE}?name=a.example&name=b.example`],
  ['a path', `${BASE}/inbox`],
  ['a fragment', `${BASE}#x`],
  ['a password that is not valid percent-encoding', 'smtp://u:%E0%A4%A@smtp.provider.example:587'],
];

describe('SMTP_URL', () => {
  it.each(REFUSED)('refuses %s', (_name, url) => {
    let error: unknown;
    try {
      createSmtpTransport(url, smtp);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe('SMTP_URL');
    for (const secret of ['s3cret', 'hunter2-secret', 'evil.example'])
      expect((error as Error).message).not.toContain(secret);
  });

  it('passes on the accepted parameters and the decoded credentials, and keeps TLS required and logging off', () => {
    const options = smtpTransportOptions(
      'smtp://mailer%40acme:p%40ss%3Aw0rd@smtp.provider.example:587?name=mx.acme.example&authMethod=LOGIN',
      smtp,
    );
    expect(options).toMatchObject({
      host: 'smtp.provider.example',
      port: 587,
      secure: false,
      requireTLS: true,
      logger: false,
      debug: false,
      auth: { user: 'mailer@acme', pass: 'p@ss:w0rd' },
      name: 'mx.acme.example',
      authMethod: 'LOGIN',
    });
    expect(options).not.toHaveProperty('ignoreTLS');
    expect(options).not.toHaveProperty('tls');
    const transport = createSmtpTransport(`${BASE}?name=mx.acme.example`, smtp);
    expect(transport.options).toMatchObject({ requireTLS: true, secure: false });
    transport.close();
  });

  it('smtps:// is TLS from the first byte; loopback may be plain', () => {
    expect(smtpTransportOptions('smtps://u:p@smtp.provider.example', smtp)).toMatchObject({
      secure: true,
      requireTLS: false,
    });
    expect(smtpTransportOptions('smtp://127.0.0.1:1025', smtp)).toMatchObject({
      host: '127.0.0.1',
      port: 1025,
      secure: false,
      requireTLS: false,
    });
    expect(smtpTransportOptions('smtp://[::1]:1025', smtp)).toMatchObject({ host: '::1', requireTLS: false });
  });
});
