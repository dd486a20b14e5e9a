// The local stack's lifecycle: after stop (or a failed start) none of its
// ports is still listening, and no child process is left behind.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { isListening, isPortClash, pickPort, withPortRetry } from '../dev/stack/ports.ts';
import { startStack } from '../dev/stack/index.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** A data folder the postgres user can enter, so its data stays inside and is removed with it. */
async function dataFolder(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mailer-stack-'));
  await chmod(dir, 0o755);
  dirs.push(dir);
  return dir;
}

async function freshPorts() {
  const taken = new Set<number>();
  return {
    smtp: await pickPort(undefined, taken),
    mailbox: await pickPort(undefined, taken),
    postgres: await pickPort(undefined, taken),
    temporal: await pickPort(undefined, taken),
    temporalUi: await pickPort(undefined, taken),
  };
}

const bareEnv = () => {
  const env = { ...process.env };
  for (const name of ['TEMPORAL_ADDRESS', 'DATABASE_URL', 'SMTP_URL']) delete env[name];
  return env;
};

describe('local stack', () => {
  it('answers on every port while up and leaves none listening after stop', async () => {
    const dataDir = await dataFolder();
    const ports = await freshPorts();
    const stack = await startStack({
      dataDir,
      ports,
      mailboxWeb: true,
      ephemeral: true,
      env: bareEnv(),
      log: () => {},
    });
    try {
      for (const port of Object.values(ports)) expect(await isListening(port), `port ${port} up`).toBe(true);
      expect((await fetch(stack.info.temporalUiUrl!)).status).toBe(200);
      expect((await fetch(stack.info.mailboxUrl!)).status).toBe(200);
      // The mailbox's switches break and mend the sink, for people trying failure paths by hand.
      const post = (action: string) => fetch(`${stack.info.mailboxUrl}/sink/${action}`, { method: 'POST' });
      expect((await post('down')).status).toBe(200);
      expect(await isListening(ports.smtp)).toBe(false);
      expect((await post('up')).status).toBe(200);
      expect(await isListening(ports.smtp)).toBe(true);
      expect((await post('reject?code=200')).status).toBe(400);
      await post('reject?code=550');
      const transport = nodemailer.createTransport({ url: stack.info.smtpUrl });
      const refused = await transport
        .sendMail({ from: 'a@example.com', to: 'b@example.com', subject: 's', text: 't' })
        .catch((e: unknown) => e);
      expect((refused as { responseCode?: number }).responseCode).toBe(550);
      await post('accept');
      expect(
        (
          (await transport.sendMail({ from: 'a@example.com', to: 'b@example.com', subject: 's', text: 't' })) as {
            response: string;
          }
        ).response,
      ).toMatch(/^250 /);
      transport.close();
    } finally {
      await stack.stop();
      await stack.postgres?.destroy();
    }
    for (const [name, port] of Object.entries(ports))
      expect(await isListening(port), `${name} port ${port} after stop`).toBe(false);
  });

  it('stops what it already started when a later part fails to start', async () => {
    const dataDir = await dataFolder();
    const ports = await freshPorts();
    // Temporal starts last; a wrong explicit CLI path makes it fail after SMTP and Postgres are up.
    const env = { ...bareEnv(), TEMPORAL_CLI_PATH: path.join(dataDir, 'no-such-temporal') };
    await expect(startStack({ dataDir, ports, mailboxWeb: true, ephemeral: true, env, log: () => {} })).rejects.toThrow(
      /TEMPORAL_CLI_PATH/,
    );
    for (const [name, port] of Object.entries(ports))
      expect(await isListening(port), `${name} port ${port}`).toBe(false);
  });
});

describe('ports taken between the pick and the bind', () => {
  /** A real listener on `port`; rejects with the OS's error when the port is taken. */
  const listen = (port: number) =>
    new Promise<net.Server>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(server));
    });

  it('starts the server again on a freshly picked port, once, and says so', async () => {
    const blocker = await listen(0);
    const taken = (blocker.address() as net.AddressInfo).port;
    const tried: number[] = [];
    const lines: string[] = [];
    try {
      // The first pick lands on the port another process took meanwhile.
      const server = await withPortRetry(
        'test server',
        async () => {
          const port = tried.length === 0 ? taken : await pickPort(undefined);
          tried.push(port);
          return listen(port);
        },
        { log: (line) => lines.push(line) },
      );
      const bound = (server.address() as net.AddressInfo).port;
      server.close();
      expect(tried).toHaveLength(2);
      expect(bound).toBe(tried[1]);
      expect(bound).not.toBe(taken);
      expect(lines).toEqual([expect.stringContaining('test server: a port it was given was taken')]);
    } finally {
      blocker.close();
    }
  });

  it('leaves a clash on a fixed port, and any other failure, to the caller at once', async () => {
    const blocker = await listen(0);
    const taken = (blocker.address() as net.AddressInfo).port;
    let calls = 0;
    try {
      await expect(
        withPortRetry(
          'fixed',
          async () => {
            calls++;
            return listen(taken);
          },
          { fixed: true },
        ),
      ).rejects.toMatchObject({ code: 'EADDRINUSE' });
      expect(calls).toBe(1);
      await expect(
        withPortRetry('other', async () => {
          calls++;
          throw new Error('no such binary');
        }),
      ).rejects.toThrow('no such binary');
      expect(calls).toBe(2);
    } finally {
      blocker.close();
    }
  });

  it('recognises the clash as Temporal and Postgres report it', async () => {
    const blocker = await listen(0);
    const taken = (blocker.address() as net.AddressInfo).port;
    try {
      for (const ports of [{ postgres: taken }, { temporal: taken, temporalUi: await pickPort(undefined) }]) {
        const env: NodeJS.ProcessEnv = { ...bareEnv(), SMTP_URL: 'smtp://127.0.0.1:1' };
        if (!('postgres' in ports)) env.DATABASE_URL = 'postgres://unused@127.0.0.1:1/unused';
        const error = await startStack({
          dataDir: await dataFolder(),
          ports,
          ephemeral: true,
          env,
          log: () => {},
        }).then(
          async (stack) => {
            await stack.stop();
            return undefined;
          },
          (err: unknown) => err,
        );
        expect(error, JSON.stringify(ports)).toBeInstanceOf(Error);
        expect(isPortClash(error), String(error)).toBe(true);
      }
    } finally {
      blocker.close();
    }
  });
});
