// Connections to Temporal from the configuration, so the worker and `mailer`
// reach the local stack, a self-hosted cluster with mTLS, or Temporal Cloud
// with an API key by changing environment variables only.
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import { AesGcmCodec } from './codec.ts';
import type { Config } from './config.ts';

/** The data converter both sides must share: with payload encryption when keys are configured. */
export function dataConverter(config: Config): DataConverter | undefined {
  return config.payloadKeys ? { payloadCodecs: [new AesGcmCodec(config.payloadKeys)] } : undefined;
}

export function connectNative(config: Config): Promise<NativeConnection> {
  return NativeConnection.connect({ address: config.temporal.address, ...config.temporal.connection });
}

export async function connectClient(config: Config): Promise<{ client: Client; connection: Connection }> {
  const { tls, apiKey, metadata } = config.temporal.connection;
  const connection = await Connection.connect({
    address: config.temporal.address,
    ...(tls !== undefined ? { tls } : {}),
    ...(apiKey && typeof apiKey === 'string' ? { apiKey } : {}),
    ...(metadata ? { metadata } : {}),
  });
  const converter = dataConverter(config);
  return { client: new Client({ connection, namespace: config.temporal.namespace, ...(converter ? { dataConverter: converter } : {}) }), connection };
}
