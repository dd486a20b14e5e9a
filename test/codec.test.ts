// Payload encryption: with PAYLOAD_ENCRYPTION_KEYS set, every payload Temporal
// stores is AES-GCM ciphertext (not even the email id is readable in the raw
// history), the codec server decodes it for the Web UI, and a rotated key
// list still reads what the old key wrote.
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AesGcmCodec, parseKeys } from '../src/codec.ts';
import { createCodecServer } from '../src/codec-server.ts';
import { loadConfig } from '../src/config.ts';
import { createTestEnv, outcome, type TestEnv } from './helpers.ts';

const k1 = `k1:${randomBytes(32).toString('base64')}`;
const OPS_TOKEN = randomBytes(24).toString('hex');
const k2 = `k2:${randomBytes(32).toString('base64')}`;

describe('payload encryption', () => {
  let env: TestEnv;
  let server: http.Server;
  let codecUrl: string;
  beforeAll(async () => {
    env = await createTestEnv({ PAYLOAD_ENCRYPTION_KEYS: k1 });
    await env.startWorker();
    // The UI's codec server knows the new key first and the old one still.
    server = createCodecServer(new AesGcmCodec(parseKeys(`${k2},${k1}`)), { authToken: OPS_TOKEN });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    codecUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    server?.close();
    await env?.close();
  });

  it('stores only ciphertext in history, and the codec server decodes it for authorised operators', async () => {
    {
      // env.client and the worker both run with env.config, which holds the key.
      const sent = await env.client.send({
        from: 'app@acme.example',
        to: 'private@example.com',
        subject: 'Private subject',
        text: 'Private body',
      });
      expect(await outcome(env, sent.workflowId)).toEqual({ status: 'sent' });

      // The raw history, as stored by the server (no data converter involved).
      const raw = await env.client.temporal.workflowService.getWorkflowExecutionHistory({
        namespace: 'default',
        execution: { workflowId: sent.workflowId },
      });
      type RawPayload = { metadata?: Record<string, Uint8Array> | null; data?: Uint8Array | null };
      const payloads: RawPayload[] = [];
      // Local-activity markers carry, beside our encrypted result, a bookkeeping
      // payload the SDK core writes itself (activity id, type, attempt), which no
      // codec sees; so does a patch marker (the patch id). They hold no email
      // data, which is checked below.
      const coreMarkerData: RawPayload[] = [];
      const collect = (node: unknown, into: RawPayload[]): void => {
        if (!node || typeof node !== 'object') return;
        const o = node as Record<string, unknown>;
        if (o.payloads && Array.isArray(o.payloads)) into.push(...(o.payloads as RawPayload[]));
        for (const [k, v] of Object.entries(o)) {
          if (!v || typeof v !== 'object' || v instanceof Uint8Array) continue;
          collect(v, (k === 'data' && o.result !== undefined) || k === 'patch-data' ? coreMarkerData : into);
        }
      };
      for (const event of raw.history?.events ?? []) collect(event, payloads);
      // blockCheck, prepare, the local first delivery attempt, and its patch marker
      expect(coreMarkerData.length).toBe(4);
      const bookkeeping = coreMarkerData.map((p) => Buffer.from(p.data ?? []).toString()).join('');
      for (const secret of [sent.id, 'private@example.com', 'Private subject'])
        expect(bookkeeping).not.toContain(secret);
      expect(payloads.length).toBeGreaterThanOrEqual(4); // workflow input, activity inputs and results, workflow result
      for (const p of payloads) expect(Buffer.from(p.metadata!.encoding!).toString()).toBe('binary/encrypted');
      const everything = payloads.map((p) => Buffer.from(p.data ?? []).toString('latin1')).join('');
      for (const secret of [sent.id, 'private@example.com', 'Private subject', 'Private body'])
        expect(everything).not.toContain(secret);

      // The UI posts payloads as JSON to the codec server.
      const body = JSON.stringify({
        payloads: payloads.slice(0, 1).map((p) => ({
          metadata: Object.fromEntries(
            Object.entries(p.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
          ),
          data: Buffer.from(p.data!).toString('base64'),
        })),
      });
      expect(
        (await fetch(`${codecUrl}/decode`, { method: 'POST', body, headers: { 'content-type': 'application/json' } }))
          .status,
      ).toBe(401);
      const decoded = (await (
        await fetch(`${codecUrl}/decode`, {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${OPS_TOKEN}` },
        })
      ).json()) as { payloads: { data: string }[] };
      expect(JSON.parse(Buffer.from(decoded.payloads[0]!.data, 'base64').toString())).toEqual({ emailId: sent.id });
    }
  });

  it('refuses malformed keys, naming the variable', () => {
    expect(() => loadConfig({ DATABASE_URL: 'postgres://u:p@db/m', PAYLOAD_ENCRYPTION_KEYS: 'k1:tooshort' })).toThrow(
      /^PAYLOAD_ENCRYPTION_KEYS: /,
    );
  });
});
