// The worker's workflowsPath: every workflow the service runs. Code here runs
// in Temporal's deterministic sandbox: no Node built-ins, no I/O, no clocks,
// and activity *types* only.
export { sendEmail, stateQuery } from './send-email.ts';
export { reconcileWorkflow } from './reconcile.ts';
export { purgeWorkflow } from './purge.ts';
export { webhookSender } from './webhooks.ts';
