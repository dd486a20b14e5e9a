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
