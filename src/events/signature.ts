// Webhook signatures: `Mailer-Signature: t=<unix seconds>,v1=<hex>` where the
// hex is HMAC-SHA256(WEBHOOK_SECRET, "<t>.<raw body>"). The timestamp is
// signed with the body so a captured request cannot be replayed later than the
// receiver's tolerance. The README shows the same check in a few lines of
// node:crypto for receivers that do not use this package.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'Mailer-Signature';

function hmac(secret: string, timestamp: number, body: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

/** The header value for `body` (the exact bytes sent) at `timestamp` (Unix seconds). */
export function signWebhook(secret: string, body: string | Buffer, timestamp = Math.floor(Date.now() / 1000)): string {
  return `t=${timestamp},v1=${hmac(secret, timestamp, body)}`;
}

/**
 * True when `header` signs `body` (the raw bytes received, before any JSON
 * parsing) with `secret`, and its timestamp is within `toleranceSeconds` of now.
 */
export function verifyWebhook(
  secret: string,
  header: string | undefined | null,
  body: string | Buffer,
  { toleranceSeconds = 300, now = Date.now() }: { toleranceSeconds?: number; now?: number } = {},
): boolean {
  if (!header) return false;
  const parts = new Map(header.split(',').map((p) => p.trim().split('=', 2) as [string, string]));
  const timestamp = Number(parts.get('t'));
  const given = parts.get('v1');
  if (!Number.isInteger(timestamp) || !given || !/^[0-9a-f]{64}$/.test(given)) return false;
  if (Math.abs(now / 1000 - timestamp) > toleranceSeconds) return false;
  return timingSafeEqual(Buffer.from(hmac(secret, timestamp, body), 'hex'), Buffer.from(given, 'hex'));
}
