// A codec server, so the Temporal Web UI (and `temporal` CLI) can show
// encrypted payloads to operators who may read them: the UI posts payloads to
// /decode (and /encode) and shows the result. Start the dev server with
// `--ui-codec-endpoint http://127.0.0.1:<port>`. Requests must carry
// `Authorization: Bearer <CODEC_AUTH_TOKEN>` when that variable is set.
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import type { Payload } from '@temporalio/common';
import { AesGcmCodec, parseKeys } from './codec.ts';

interface JsonPayload { metadata?: Record<string, string>; data?: string }

const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});
const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  data: Buffer.from(p.data ?? []).toString('base64'),
});

export function createCodecServer(codec: AesGcmCodec, { authToken, allowOrigin = '*' }: { authToken?: string; allowOrigin?: string } = {}): http.Server {
  return http.createServer((req, res) => {
    res.setHeader('Access-Control-Allow-Origin', allowOrigin);
    res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
    res.setHeader('Access-Control-Allow-Headers', 'Content-Type, Authorization, X-Namespace');
    res.setHeader('Access-Control-Allow-Credentials', 'true');
    if (req.method === 'OPTIONS') return void res.writeHead(204).end();
    const op = req.url === '/encode' ? 'encode' : req.url === '/decode' ? 'decode' : undefined;
    if (req.method !== 'POST' || !op) return void res.writeHead(404).end();
    if (authToken && req.headers.authorization !== `Bearer ${authToken}`) return void res.writeHead(401).end();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as { payloads: JsonPayload[] };
        const out = await codec[op](body.payloads.map(fromJson));
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ payloads: out.map(toJson) }));
      })().catch(() => res.writeHead(400).end());
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const keys = process.env.PAYLOAD_ENCRYPTION_KEYS;
  if (!keys) {
    console.error('PAYLOAD_ENCRYPTION_KEYS: is not set');
    process.exit(2);
  }
  const [host, port] = (process.env.CODEC_SERVER_ADDRESS ?? '127.0.0.1:8888').split(':');
  const server = createCodecServer(new AesGcmCodec(parseKeys(keys)), {
    ...(process.env.CODEC_AUTH_TOKEN ? { authToken: process.env.CODEC_AUTH_TOKEN } : {}),
    ...(process.env.CODEC_ALLOW_ORIGIN ? { allowOrigin: process.env.CODEC_ALLOW_ORIGIN } : {}),
  });
  server.listen(Number(port), host, () => console.error(`[codec-server] http://${host}:${port} (/encode, /decode)`));
}
