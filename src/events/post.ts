// One webhook POST and what its answer means. 2xx: delivered. A 4xx other
// than 408 and 429 is the receiver refusing this event for good: recorded and
// not retried (a receiver that wants it again answers 5xx). Everything else —
// 5xx, 408, 429, timeouts, refused connections — is retried with backoff.
// Redirects are followed only within the same origin (scheme, host and port):
// an event never leaves for a host the operator did not configure.
import type { WebhookConfig } from '../config.ts';
import type { EmailEvent } from './store.ts';
import { SIGNATURE_HEADER, signWebhook } from './signature.ts';

export type PostOutcome =
  | { kind: 'delivered'; status: number }
  | { kind: 'refused'; status: number; error: string }
  | { kind: 'retry'; error: string; retryAfterMs?: number };

const MAX_REDIRECTS = 3;

/** The body of a webhook POST: the event exactly as `EmailEvent` declares it. */
export function webhookBody(event: EmailEvent): string {
  return JSON.stringify({
    id: event.id,
    type: event.type,
    emailId: event.emailId,
    occurredAt: event.occurredAt,
    details: event.details,
  });
}

async function excerpt(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  return text.replace(/\s+/g, ' ').trim().slice(0, 200);
}

function retryAfterMs(res: Response): number | undefined {
  const value = res.headers.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - Date.now();
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

export async function postEvent(hook: WebhookConfig, event: EmailEvent, signal?: AbortSignal): Promise<PostOutcome> {
  const body = webhookBody(event);
  const timeout = AbortSignal.timeout(hook.timeoutMs);
  const abort = signal ? AbortSignal.any([signal, timeout]) : timeout;
  let target = new URL(hook.url);
  try {
    for (let hop = 0; ; hop++) {
      const res = await fetch(target, {
        method: 'POST',
        redirect: 'manual',
        signal: abort,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'durable-mailer-webhook',
          'mailer-event-id': event.id,
          'mailer-event-type': event.type,
          [SIGNATURE_HEADER]: signWebhook(hook.secret, body),
        },
        body,
      });
      if (res.status >= 200 && res.status < 300) {
        await res.body?.cancel();
        return { kind: 'delivered', status: res.status };
      }
      if (res.status >= 300 && res.status < 400) {
        await res.body?.cancel();
        const location = res.headers.get('location');
        const next = location ? new URL(location, target) : undefined;
        if (!next || next.origin !== target.origin) {
          return {
            kind: 'retry',
            error: `HTTP ${res.status}: redirect to ${next ? next.origin : 'nowhere'} not followed (only the same origin is); set WEBHOOK_URL to the final address`,
          };
        }
        if (hop >= MAX_REDIRECTS)
          return { kind: 'retry', error: `HTTP ${res.status}: more than ${MAX_REDIRECTS} redirects` };
        target = next;
        continue;
      }
      const text = await excerpt(res);
      const error = `HTTP ${res.status}${text ? `: ${text}` : ''}`;
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429)
        return { kind: 'refused', status: res.status, error };
      const after = retryAfterMs(res);
      return { kind: 'retry', error, ...(after !== undefined ? { retryAfterMs: after } : {}) };
    }
  } catch (err) {
    if (timeout.aborted) return { kind: 'retry', error: `no answer within ${hook.timeoutMs} ms` };
    if (signal?.aborted) throw err;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return { kind: 'retry', error: cause?.code ?? cause?.message ?? (err as Error).message };
  }
}
