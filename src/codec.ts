// Optional encryption of every workflow and activity payload (AES-256-GCM),
// for teams whose policy is that Temporal never stores readable data — even
// the ids and results that are all this service puts there. Keys rotate: the
// first key encrypts, every listed key decrypts, each payload names its key.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import protos from '@temporalio/proto';

const ENCODING = 'binary/encrypted';
const PayloadProto = protos.temporal.api.common.v1.Payload;

export class PayloadKeysError extends Error {
  override readonly name = 'PayloadKeysError';
}

/** "id:base64key,id2:base64key" (32-byte keys; the first one encrypts). */
export function parseKeys(value: string, variable = 'PAYLOAD_ENCRYPTION_KEYS'): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  for (const [index, entry] of value
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)
    .entries()) {
    const [id = '', b64, ...extra] = entry.split(':');
    const key = Buffer.from(b64 ?? '', 'base64');
    const validId = /^[\w.-]{1,64}$/.test(id);
    if (!validId || key.length !== 32 || extra.length) {
      // Only a well-formed id is repeated: a key pasted without its id must not reach a log.
      throw new PayloadKeysError(
        `${variable}: each entry must be <key id>:<32 bytes, base64> (entry ${index + 1}${validId ? `, key id "${id}"` : ''} is not)`,
      );
    }
    // A repeated id would silently make its later key the one that encrypts
    // (or hide the key older payloads need): a copy-paste slip, never intended.
    if (keys.has(id)) throw new PayloadKeysError(`${variable}: key id "${id}" is listed more than once`);
    keys.set(id, key);
  }
  if (!keys.size) throw new PayloadKeysError(`${variable}: no key given`);
  return keys;
}

export class AesGcmCodec implements PayloadCodec {
  private readonly current: [string, Buffer];
  constructor(private readonly keys: Map<string, Buffer>) {
    this.current = [...keys][0]!;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const [keyId, key] = this.current;
    return payloads.map((payload) => {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const plain = PayloadProto.encode(payload).finish();
      const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return { metadata: { encoding: Buffer.from(ENCODING), 'encryption-key-id': Buffer.from(keyId) }, data };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (Buffer.from(payload.metadata?.encoding ?? []).toString() !== ENCODING) return payload;
      const keyId = Buffer.from(payload.metadata?.['encryption-key-id'] ?? []).toString();
      const key = this.keys.get(keyId);
      if (!key)
        throw new PayloadKeysError(`payload encrypted with key "${keyId}", which is not in PAYLOAD_ENCRYPTION_KEYS`);
      const data = Buffer.from(payload.data ?? []);
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, 12));
      decipher.setAuthTag(data.subarray(data.length - 16));
      const plain = Buffer.concat([decipher.update(data.subarray(12, data.length - 16)), decipher.final()]);
      return PayloadProto.decode(plain);
    });
  }
}
