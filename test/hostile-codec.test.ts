// The codec server as an attacker meets it: no token, a wrong token, a page
// from another origin, a body far too large, malformed JSON. Each is refused
// with a status and a typed JSON error, nothing is buffered beyond the limit,
// and the server keeps serving the operator who holds the token.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AesGcmCodec, parseKeys } from '../src/codec.ts';
import { codecServerOptionsFromEnv, createCodecServer } from '../src/codec-server.ts';
import { ConfigError } from '../src/config.ts';

const exec = promisify(execFile);
const KEYS = `k1:${randomBytes(32).toString('base64')}`;
const TOKEN = randomBytes(24).toString('hex');
const UI = 'http://127.0.0.1:8233';
const MAX = 64 * 1024;

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(
  port: number,
  {
    method = 'POST',
    url = '/decode',
    headers = {},
    body,
  }: { method?: string; url?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: url, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

const json = { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` };
const sample = JSON.stringify({
  payloads: [
    {
      metadata: { encoding: Buffer.from('json/plain').toString('base64') },
      data: Buffer.from('{"emailId":"x"}').toString('base64'),
    },
  ],
});

describe('codec server: refusals', () => {
  let server: http.Server;
  let port: number;
  beforeAll(async () => {
    server = createCodecServer(new AesGcmCodec(parseKeys(KEYS)), {
      authToken: TOKEN,
      allowOrigins: [UI],
      maxBodyBytes: MAX,
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => server?.close(() => r())));

  const CASES: [string, Parameters<typeof request>[1], number, string][] = [
    ['no Authorization header', { headers: { 'content-type': 'application/json' }, body: sample }, 401, 'UNAUTHORIZED'],
    [
      'a wrong token of the same length',
      { headers: { ...json, authorization: `Bearer ${'0'.repeat(TOKEN.length)}` }, body: sample },
      401,
      'UNAUTHORIZED',
    ],
    [
      'the token with one more character',
      { headers: { ...json, authorization: `Bearer ${TOKEN}x` }, body: sample },
      401,
      'UNAUTHORIZED',
    ],
    [
      'the token as a Basic credential',
      { headers: { ...json, authorization: `Basic ${TOKEN}` }, body: sample },
      401,
      'UNAUTHORIZED',
    ],
    ['an empty bearer', { headers: { ...json, authorization: 'Bearer ' }, body: sample }, 401, 'UNAUTHORIZED'],
    [
      'a page from another origin, with the token',
      { headers: { ...json, origin: 'https://evil.example' }, body: sample },
      403,
      'ORIGIN_NOT_ALLOWED',
    ],
    [
      'a preflight from another origin',
      { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } },
      403,
      'ORIGIN_NOT_ALLOWED',
    ],
    [
      'the null origin of a sandboxed frame',
      { headers: { ...json, origin: 'null' }, body: sample },
      403,
      'ORIGIN_NOT_ALLOWED',
    ],
    [
      'a form post (text/plain)',
      { headers: { ...json, 'content-type': 'text/plain' }, body: sample },
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    ],
    ['a GET', { method: 'GET', headers: json }, 405, 'METHOD_NOT_ALLOWED'],
    ['an unknown path', { url: '/decode/../../etc/passwd', headers: json, body: sample }, 404, 'NOT_FOUND'],
    ['a body that is not JSON', { headers: json, body: '{"payloads": [' }, 400, 'INVALID_JSON'],
    ['payloads that are not a list', { headers: json, body: '{"payloads": {"0": {}}}' }, 400, 'INVALID_BODY'],
    ['a payload whose data is a number', { headers: json, body: '{"payloads": [{"data": 42}]}' }, 400, 'INVALID_BODY'],
    [
      'metadata with a non-string value',
      { headers: json, body: '{"payloads": [{"metadata": {"encoding": {"x": 1}}}]}' },
      400,
      'INVALID_BODY',
    ],
    ['JSON null', { headers: json, body: 'null' }, 400, 'INVALID_BODY'],
    [
      'ciphertext under an unknown key id',
      {
        headers: json,
        body: JSON.stringify({
          payloads: [
            {
              metadata: {
                encoding: Buffer.from('binary/encrypted').toString('base64'),
                'encryption-key-id': Buffer.from('k9').toString('base64'),
              },
              data: randomBytes(40).toString('base64'),
            },
          ],
        }),
      },
      400,
      'CODEC_FAILED',
    ],
    [
      'ciphertext with a forged tag',
      {
        headers: json,
        body: JSON.stringify({
          payloads: [
            {
              metadata: {
                encoding: Buffer.from('binary/encrypted').toString('base64'),
                'encryption-key-id': Buffer.from('k1').toString('base64'),
              },
              data: randomBytes(40).toString('base64'),
            },
          ],
        }),
      },
      400,
      'CODEC_FAILED',
    ],
    [
      'ciphertext shorter than its IV and tag',
      {
        headers: json,
        body: JSON.stringify({
          payloads: [
            {
              metadata: {
                encoding: Buffer.from('binary/encrypted').toString('base64'),
                'encryption-key-id': Buffer.from('k1').toString('base64'),
              },
              data: 'AAAA',
            },
          ],
        }),
      },
      400,
      'CODEC_FAILED',
    ],
    [
      'a declared body over the limit',
      { headers: { ...json }, body: Buffer.alloc(MAX + 1, 0x20) },
      413,
      'BODY_TOO_LARGE',
    ],
  ];

  it.each(CASES)('refuses %s', async (_name, req, status, code) => {
    const answer = await request(port, req);
    expect(answer.status).toBe(status);
    expect(JSON.parse(answer.body).error.code).toBe(code);
    expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
  });

  it('answers the allowed origin by name, never "*", and round-trips for the token holder', async () => {
    const preflight = await request(port, {
      method: 'OPTIONS',
      headers: { origin: UI, 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe(UI);
    expect(preflight.headers.vary).toBe('Origin');
    const encoded = await request(port, { url: '/encode', headers: { ...json, origin: UI }, body: sample });
    expect(encoded.status).toBe(200);
    const decoded = await request(port, { headers: json, body: encoded.body });
    expect(decoded.headers['access-control-allow-origin']).toBeUndefined();
    expect(JSON.parse(decoded.body)).toEqual(JSON.parse(sample));
  });

  it('stops reading a 128 MiB chunked body at the limit: memory stays bounded and the server keeps serving', async () => {
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 5);
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const outcome = await new Promise<number | string>((resolve) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/decode',
          headers: { ...json, 'transfer-encoding': 'chunked' },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
      let sent = 0;
      const pump = () => {
        while (sent < 128 * 1024 * 1024) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    clearInterval(sampler);
    // The server answers 413 and cuts the connection; the client sees one or the other first.
    expect([413, 'ECONNRESET', 'EPIPE']).toContain(outcome);
    expect(peak - before).toBeLessThan(48 * 1024 * 1024);
    expect((await request(port, { headers: json, body: sample })).status).toBe(200);
  });
});

describe('codec server: secure defaults', () => {
  const codec = new AesGcmCodec(parseKeys(KEYS));

  it('refuses to be created without a token unless insecureNoAuth is given', () => {
    expect(() => createCodecServer(codec)).toThrow(ConfigError);
    expect(() => createCodecServer(codec, { authToken: 'short' })).toThrow(/^authToken: is shorter than 16/);
    expect(() => createCodecServer(codec, { authToken: TOKEN, allowOrigins: ['*'] })).toThrow(
      /^allowOrigins: "\*" is not allowed/,
    );
    createCodecServer(codec, { insecureNoAuth: true }).close();
  });

  it.each([
    ['no token', {}, [], 'CODEC_AUTH_TOKEN'],
    ['a short token', { CODEC_AUTH_TOKEN: 'secret' }, [], 'CODEC_AUTH_TOKEN'],
    ['a wildcard origin', { CODEC_AUTH_TOKEN: TOKEN, CODEC_ALLOW_ORIGIN: '*' }, [], 'CODEC_ALLOW_ORIGIN'],
    [
      'an origin with a path',
      { CODEC_AUTH_TOKEN: TOKEN, CODEC_ALLOW_ORIGIN: 'https://ui.example/codec' },
      [],
      'CODEC_ALLOW_ORIGIN',
    ],
    [
      'an origin that is not http(s)',
      { CODEC_AUTH_TOKEN: TOKEN, CODEC_ALLOW_ORIGIN: 'file:///tmp' },
      [],
      'CODEC_ALLOW_ORIGIN',
    ],
    [
      'a body limit that is not a number',
      { CODEC_AUTH_TOKEN: TOKEN, CODEC_MAX_BODY_BYTES: '4MB' },
      [],
      'CODEC_MAX_BODY_BYTES',
    ],
    [
      'an address without a port',
      { CODEC_AUTH_TOKEN: TOKEN, CODEC_SERVER_ADDRESS: '0.0.0.0' },
      [],
      'CODEC_SERVER_ADDRESS',
    ],
    ['an unknown flag', { CODEC_AUTH_TOKEN: TOKEN }, ['--no-auth'], 'arguments'],
    ['no keys', { PAYLOAD_ENCRYPTION_KEYS: '', CODEC_AUTH_TOKEN: TOKEN }, [], 'PAYLOAD_ENCRYPTION_KEYS'],
  ] as const)('refuses %s from the environment, naming the variable', (_name, env, argv, variable) => {
    const error = (() => {
      try {
        codecServerOptionsFromEnv({ PAYLOAD_ENCRYPTION_KEYS: KEYS, ...env }, [...argv]);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
  });

  it('starts without a token only with --insecure-dev-no-auth', () => {
    expect(codecServerOptionsFromEnv({ PAYLOAD_ENCRYPTION_KEYS: KEYS }, ['--insecure-dev-no-auth'])).toMatchObject({
      insecureNoAuth: true,
      allowOrigins: [],
    });
  });

  it('the process exits 2 with one line naming CODEC_AUTH_TOKEN when it has no token', async () => {
    const script = path.join(import.meta.dirname, '../src/codec-server.ts');
    const env: NodeJS.ProcessEnv = { ...process.env, PAYLOAD_ENCRYPTION_KEYS: KEYS };
    delete env.CODEC_AUTH_TOKEN;
    const error = await exec(process.execPath, ['--import', 'tsx', script], { env, timeout: 30_000 }).then(
      () => undefined,
      (e: unknown) => e as { code: number; stderr: string },
    );
    expect(error?.code).toBe(2);
    expect(error?.stderr.trim()).toMatch(/^error: CODEC_AUTH_TOKEN: is not set/);
    expect(error?.stderr.trim().split('\n')).toHaveLength(1);
  });
});
