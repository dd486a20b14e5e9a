// Starting the webhook sender: every worker with WEBHOOK_URL does it at start;
// a start while it runs joins it, so any number of workers make one sender.
import type { Client } from '@temporalio/client';
import type { Config } from '../config.ts';

export const WEBHOOK_SENDER_WORKFLOW = 'webhookSender';

export function webhookSenderId(taskQueue: string): string {
  return `webhooks-${taskQueue}`;
}

export async function ensureWebhookSender(
  temporal: Client,
  config: Pick<Config, 'webhook' | 'temporal'>,
): Promise<string | undefined> {
  if (!config.webhook) return undefined;
  const workflowId = webhookSenderId(config.temporal.taskQueue);
  await temporal.workflow.start(WEBHOOK_SENDER_WORKFLOW, {
    taskQueue: config.temporal.taskQueue,
    workflowId,
    args: [],
    workflowIdConflictPolicy: 'USE_EXISTING',
    staticSummary: 'Email events to WEBHOOK_URL',
  });
  return workflowId;
}
