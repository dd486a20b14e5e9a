// Connections to Temporal from the configuration, so the worker and `mailer`
// reach the local stack, a self-hosted cluster with mTLS, or Temporal Cloud
// with an API key by changing environment variables only. Client side only:
// the worker's native connection lives with the worker, so importing the
// client never loads the native core.
import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { AesGcmCodec } from './codec.ts';
import type { ClientConfig } from './config.ts';

/** The data converter both sides must share: with payload encryption when keys are configured. */
export function dataConverter(config: Pick<ClientConfig, 'payloadKeys'>): DataConverter | undefined {
  return config.payloadKeys ? { payloadCodecs: [new AesGcmCodec(config.payloadKeys)] } : undefined;
}

export async function connectClient(config: ClientConfig): Promise<{ client: Client; connection: Connection }> {
  const { tls, apiKey, metadata } = config.temporal.connection;
  const connection = await Connection.connect({
    address: config.temporal.address,
    ...(tls !== undefined ? { tls } : {}),
    ...(apiKey && typeof apiKey === 'string' ? { apiKey } : {}),
    ...(metadata ? { metadata } : {}),
  });
  const converter = dataConverter(config);
  return {
    client: new Client({
      connection,
      namespace: config.temporal.namespace,
      ...(converter ? { dataConverter: converter } : {}),
    }),
    connection,
  };
}
