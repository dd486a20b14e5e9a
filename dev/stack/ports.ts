import net from 'node:net';

export const HOST = '127.0.0.1';

/** True when nothing listens on host:port and we may bind it. */
export function isPortFree(port: number, host = HOST): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A port the OS considers free right now (there is a small race until it is bound). */
export function freePort(host = HOST): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The usual port when it is free, otherwise any free one. `avoid` keeps two
 * picks made before either is bound from landing on the same number.
 */
export async function pickPort(preferred: number | undefined, avoid: Set<number> = new Set()): Promise<number> {
  if (preferred && !avoid.has(preferred) && (await isPortFree(preferred))) {
    avoid.add(preferred);
    return preferred;
  }
  for (;;) {
    const port = await freePort();
    if (!avoid.has(port)) {
      avoid.add(port);
      return port;
    }
  }
}

/**
 * A free port below `below`, for servers that store their ports in a small
 * column (the real Temporal server keeps membership ports in a Postgres
 * smallint: an ephemeral port, 32768 or above, makes it exit at start).
 */
export async function pickLowPort(avoid: Set<number>, below = 32768, from = 10000): Promise<number> {
  for (;;) {
    const port = from + Math.floor(Math.random() * (below - from));
    if (!avoid.has(port) && (await isPortFree(port))) {
      avoid.add(port);
      return port;
    }
  }
}

/** True when something accepts TCP connections on host:port. */
export function isListening(port: number, host = HOST): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (value: boolean) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** A server that could not bind its port ("address already in use" from Temporal, Postgres or Node). */
export function isPortClash(err: unknown): boolean {
  const text = err instanceof Error ? `${err.message} ${(err as NodeJS.ErrnoException).code ?? ''}` : String(err);
  return /address already in use|EADDRINUSE/i.test(text);
}

/**
 * Starts a server on ports picked a moment before it binds them. Another
 * process may take one of them in between (the test suite starts several
 * stacks at once, and Temporal's dev server picks five more ports of its own
 * the same way): then `start` runs again, picking afresh, up to `attempts`
 * times. With `fixed` ports (the caller's own) a clash is the caller's to see.
 */
export async function withPortRetry<T>(
  what: string,
  start: () => Promise<T>,
  { fixed = false, attempts = 3, log }: { fixed?: boolean; attempts?: number; log?: (line: string) => void } = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (fixed || attempt >= attempts || !isPortClash(err)) throw err;
      log?.(
        `${what}: a port it was given was taken before it could bind it; starting it again on other ports (${attempt + 1}/${attempts})`,
      );
    }
  }
}
