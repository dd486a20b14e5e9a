// The API backend code uses: a Temporal client configured like the worker.
import { Client, Connection } from '@temporalio/client';
import type { Config } from './config.ts';

export interface MailerClient {
  temporal: Client;
  close(): Promise<void>;
}

export async function connectTemporal(config: Config): Promise<MailerClient> {
  const connection = await Connection.connect({ address: config.temporal.address });
  const temporal = new Client({ connection, namespace: config.temporal.namespace });
  return { temporal, close: () => connection.close() };
}
