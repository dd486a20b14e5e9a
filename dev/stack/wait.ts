/**
 * Thrown by a `check` to end the wait at once with this error: for what will
 * not come right by waiting (a server process that exited). Any other error a
 * check throws is retried until the deadline.
 */
export class StopWaiting extends Error {}

/**
 * Polls `check` until it returns a value other than undefined/false, or fails
 * with `what` once the deadline passes. Used instead of fixed sleeps everywhere.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 30_000, intervalMs = 100 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      if (err instanceof StopWaiting) throw err;
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
