// A codec server, so the Temporal Web UI (and `temporal` CLI) can show
// encrypted payloads to operators who may read them: the UI posts payloads to
// /decode (and /encode) and shows the result. Start the dev server with
// `--ui-codec-endpoint http://127.0.0.1:<port>`.
//
// It is an encrypt/decrypt oracle for whoever can reach it, so it is closed by
// default: every request needs `Authorization: Bearer <CODEC_AUTH_TOKEN>`
// (compared in constant time), browsers may call it only from the origins
// listed in CODEC_ALLOW_ORIGIN (never `*`), and a request body larger than
// CODEC_MAX_BODY_BYTES is refused before it is buffered. Without a token it
// starts only with the flag `--insecure-dev-no-auth`, for a laptop.
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import type { Payload } from '@temporalio/common';
import { AesGcmCodec, parseKeys } from './codec.ts';
import { ConfigError } from './config.ts';

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

export interface CodecServerOptions {
  /** Every request must carry `Authorization: Bearer <authToken>`. Required unless `insecureNoAuth`. */
  authToken?: string;
  /** Development only: serve without a token. */
  insecureNoAuth?: boolean;
  /** Exact origins (`https://temporal.example.com`) a browser may call from; none by default. */
  allowOrigins?: string[];
  /** Largest request body accepted; 4 MiB by default (Temporal's own payload limit is 2 MiB). */
  maxBodyBytes?: number;
}

export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
const MIN_TOKEN_CHARS = 16;

const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});
const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? []).toString('base64'),
});

/** The origin part of a URL, or a ConfigError naming `field`. */
function origin(value: string, field: string): string {
  if (value.trim() === '*')
    throw new ConfigError(
      field,
      '"*" is not allowed: list the exact origins of the Web UI (e.g. https://temporal.example.com)',
    );
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new ConfigError(field, `"${value}" is not an origin like https://temporal.example.com`);
  }
  if (
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.username ||
    url.password ||
    (url.pathname !== '/' && url.pathname !== '') ||
    url.search ||
    url.hash
  ) {
    throw new ConfigError(
      field,
      `"${value}" is not an origin like https://temporal.example.com (scheme, host and port only)`,
    );
  }
  return url.origin;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

function isPayloadList(body: unknown): body is { payloads: JsonPayload[] } {
  const strings = (o: unknown) =>
    o && typeof o === 'object' && !Array.isArray(o) && Object.values(o).every((v) => typeof v === 'string');
  const payloads = (body as { payloads?: unknown } | null)?.payloads;
  return (
    Array.isArray(payloads) &&
    payloads.every((p: unknown) => {
      const q = p as JsonPayload | null;
      return (
        !!q &&
        typeof q === 'object' &&
        (q.metadata === undefined || strings(q.metadata)) &&
        (q.data === undefined || typeof q.data === 'string')
      );
    })
  );
}

export function createCodecServer(codec: AesGcmCodec, options: CodecServerOptions = {}): http.Server {
  const { authToken, insecureNoAuth = false, maxBodyBytes = DEFAULT_MAX_BODY_BYTES } = options;
  if (!authToken && !insecureNoAuth)
    throw new ConfigError(
      'authToken',
      'is required (the codec server decrypts for anyone who can reach it); pass insecureNoAuth only for local development',
    );
  if (authToken && authToken.length < MIN_TOKEN_CHARS)
    throw new ConfigError('authToken', `is shorter than ${MIN_TOKEN_CHARS} characters`);
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1)
    throw new ConfigError('maxBodyBytes', 'must be a whole number of bytes ≥ 1');
  const origins = new Set((options.allowOrigins ?? []).map((o) => origin(o, 'allowOrigins')));
  const expected = authToken ? digest(`Bearer ${authToken}`) : undefined;

  return http.createServer((req, res) => {
    const reply = (status: number, code?: string, message?: string) => {
      if (res.headersSent) return void res.end();
      res
        .writeHead(status, {
          'content-type': 'application/json',
          'x-content-type-options': 'nosniff',
          'cache-control': 'no-store',
        })
        .end(code ? JSON.stringify({ error: { code, message } }) : undefined);
    };
    const from = req.headers.origin;
    if (from !== undefined) {
      // A page from anywhere else gets nothing, not even a preflight answer.
      if (!origins.has(from)) return reply(403, 'ORIGIN_NOT_ALLOWED', 'this origin is not in CODEC_ALLOW_ORIGIN');
      res.setHeader('Access-Control-Allow-Origin', from);
      res.setHeader('Vary', 'Origin');
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type, Authorization, X-Namespace');
      res.setHeader('Access-Control-Allow-Credentials', 'true');
    }
    if (req.method === 'OPTIONS') return void res.writeHead(204).end();
    const op = req.url === '/encode' ? 'encode' : req.url === '/decode' ? 'decode' : undefined;
    if (!op) return reply(404, 'NOT_FOUND', 'POST /encode or /decode');
    if (req.method !== 'POST') return reply(405, 'METHOD_NOT_ALLOWED', 'POST only');
    if (expected) {
      const given = digest(req.headers.authorization ?? '');
      if (!timingSafeEqual(given, expected))
        return reply(401, 'UNAUTHORIZED', 'Authorization: Bearer <CODEC_AUTH_TOKEN> is required');
    }
    // JSON only: a cross-site form post cannot send it without a preflight.
    if (!/^application\/json\s*(?:;|$)/i.test(req.headers['content-type'] ?? ''))
      return reply(415, 'UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json');
    const tooLarge = () => {
      res.setHeader('connection', 'close');
      reply(413, 'BODY_TOO_LARGE', `the request body is larger than ${maxBodyBytes} bytes`);
      // Stop reading: what the client still sends is never buffered.
      res.once('finish', () => req.destroy());
    };
    if (Number(req.headers['content-length'] ?? 0) > maxBodyBytes) return tooLarge();
    const chunks: Buffer[] = [];
    let received = 0;
    req.on('data', (c: Buffer) => {
      received += c.length;
      if (received > maxBodyBytes) {
        chunks.length = 0;
        req.removeAllListeners('data').removeAllListeners('end').pause();
        return tooLarge();
      }
      chunks.push(c);
    });
    req.on('error', () => req.destroy());
    req.on('end', () => {
      void (async () => {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return reply(400, 'INVALID_JSON', 'the body is not JSON');
        }
        if (!isPayloadList(body))
          return reply(400, 'INVALID_BODY', 'expected {"payloads": [{"metadata": {…}, "data": "<base64>"}]}');
        let out: Payload[];
        try {
          out = await codec[op](body.payloads.map(fromJson));
        } catch {
          // The reason (a key id, a failed tag) helps nobody who is not already an operator.
          return reply(400, 'CODEC_FAILED', `the payloads cannot be ${op}d with the configured keys`);
        }
        res
          .writeHead(200, {
            'content-type': 'application/json',
            'x-content-type-options': 'nosniff',
            'cache-control': 'no-store',
          })
          .end(JSON.stringify({ payloads: out.map(toJson) }));
      })();
    });
  });
}

/** The server's options from the environment and its command-line flags; ConfigError names the variable. */
export function codecServerOptionsFromEnv(
  env: NodeJS.ProcessEnv,
  argv: string[] = [],
): CodecServerOptions & { keys: string; host: string; port: number } {
  const keys = env.PAYLOAD_ENCRYPTION_KEYS?.trim();
  if (!keys) throw new ConfigError('PAYLOAD_ENCRYPTION_KEYS', 'is not set');
  const unknown = argv.find((a) => a !== '--insecure-dev-no-auth');
  if (unknown)
    throw new ConfigError('arguments', `unknown flag "${unknown}" (the only flag is --insecure-dev-no-auth)`);
  const insecureNoAuth = argv.includes('--insecure-dev-no-auth');
  const authToken = env.CODEC_AUTH_TOKEN?.trim() || undefined;
  if (!authToken && !insecureNoAuth)
    throw new ConfigError(
      'CODEC_AUTH_TOKEN',
      'is not set: the codec server refuses to run without a token (only for local development: --insecure-dev-no-auth)',
    );
  if (authToken && authToken.length < MIN_TOKEN_CHARS)
    throw new ConfigError(
      'CODEC_AUTH_TOKEN',
      `is shorter than ${MIN_TOKEN_CHARS} characters (e.g. openssl rand -hex 32)`,
    );
  const allowOrigins = (env.CODEC_ALLOW_ORIGIN ?? '')
    .split(',')
    .filter((o) => o.trim())
    .map((o) => origin(o, 'CODEC_ALLOW_ORIGIN'));
  const rawMax = env.CODEC_MAX_BODY_BYTES?.trim();
  if (
    rawMax !== undefined &&
    rawMax !== '' &&
    (!/^\d+$/.test(rawMax) || Number(rawMax) < 1 || !Number.isSafeInteger(Number(rawMax)))
  ) {
    throw new ConfigError('CODEC_MAX_BODY_BYTES', `"${rawMax}" is not a whole number of bytes ≥ 1`);
  }
  const address = env.CODEC_SERVER_ADDRESS?.trim() || '127.0.0.1:8888';
  const match = /^(.+):(\d{1,5})$/.exec(address);
  if (!match || Number(match[2]) > 65535)
    throw new ConfigError('CODEC_SERVER_ADDRESS', `"${address}" is not host:port (e.g. 127.0.0.1:8888)`);
  return {
    keys,
    host: match[1]!,
    port: Number(match[2]),
    allowOrigins,
    insecureNoAuth,
    ...(authToken ? { authToken } : {}),
    ...(rawMax ? { maxBodyBytes: Number(rawMax) } : {}),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const { keys, host, port, ...options } = codecServerOptionsFromEnv(process.env, process.argv.slice(2));
    const server = createCodecServer(new AesGcmCodec(parseKeys(keys)), options);
    server.listen(port, host, () => {
      if (options.insecureNoAuth && !options.authToken) {
        console.error(
          '[codec-server] WARNING: --insecure-dev-no-auth: anyone who can reach this port can decrypt and encrypt payloads',
        );
      }
      console.error(
        `[codec-server] http://${host}:${port} (/encode, /decode)${options.allowOrigins?.length ? `, browsers from ${options.allowOrigins.join(', ')}` : ''}`,
      );
    });
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    process.exit(2);
  }
}
