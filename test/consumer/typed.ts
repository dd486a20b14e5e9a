// Type-checked by the consumer's own tsc with strict flags: a typical call
// compiles, a misspelt field does not.
import { Mailer, ValidationError, type EmailInput, type SendResult } from 'durable-mailer';
import { startWorker, loadConfig } from 'durable-mailer/worker';

export async function placeOrder(mailer: Mailer, orderId: string): Promise<SendResult> {
  const email: EmailInput = {
    from: { name: 'Acme Shop', address: 'shop@acme.example' },
    to: ['buyer@example.com'],
    subject: `Order ${orderId}`,
    text: 'Thanks for your order.',
    headers: { 'X-Entity-Ref-ID': orderId },
    attachments: [
      { filename: 'invoice.pdf', content: new Uint8Array([37, 80, 68, 70]), contentType: 'application/pdf' },
    ],
  };
  try {
    return await mailer.send(email, { idempotencyKey: `order-${orderId}`, sendAt: new Date() });
  } catch (err) {
    if (err instanceof ValidationError) console.error(err.field, err.reason);
    throw err;
  }
}

export async function typo(mailer: Mailer): Promise<void> {
  // @ts-expect-error: `subjet` is not a field of EmailInput
  await mailer.send({ from: 'a@acme.example', to: 'b@example.com', subjet: 'x', text: 'y' });
}

export async function embedWorker(): Promise<void> {
  const running = await startWorker({ config: loadConfig() });
  await running.shutdown();
}
