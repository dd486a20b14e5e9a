// durable-mailer: the client API. `import { Mailer } from 'durable-mailer'`.
// Loads @temporalio/client, pg and the validator only; the worker is
// `durable-mailer/worker`.
export {
  Mailer,
  SEND_MANY_MAX,
  type EmailStatusView,
  type MailerOptions,
  type SendManyItem,
  type SendOptions,
  type SendResult,
} from './client.ts';
export { type ClientConfig, loadClientConfig } from './config.ts';
export {
  resolveSignal,
  SEND_EMAIL_WORKFLOW,
  stateQuery,
  type Resolution,
  type SendEmailInput,
  type SendEmailResult,
  type SendEmailState,
  type Step,
} from './contract.ts';
export { checkMigrated, migrate } from './db/migrate.ts';
export {
  ConfigError,
  EmailNotFoundError,
  IdempotencyConflictError,
  MailerError,
  MigrationError,
  OperationError,
  ValidationError,
  type ErrorCode,
} from './errors.ts';
export type { AddressInput, AddressListInput, AllowedHeaderName, AttachmentInput, EmailInput } from './email/input.ts';
export type { StartFailure } from './email/start.ts';
export { PRIORITY_KEYS, type EmailPriority } from './email/priority.ts';
export { SUPPRESSION_REASONS, type Suppression, type SuppressionReason } from './email/suppressions.ts';
export {
  EVENT_TYPES,
  WEBHOOK_STATES,
  eventChannel,
  type EmailEvent,
  type EmailEventRecord,
  type EmailEventType,
  type ListEventsOptions,
  type WebhookState,
} from './events/store.ts';
export { SIGNATURE_HEADER, signWebhook, verifyWebhook } from './events/signature.ts';
export { EMAIL_STATUSES, FINAL_STATUSES, type EmailStatus } from './email/status.ts';
export type { EmailRecord } from './email/store.ts';
export type { Address } from './email/validation.ts';
export {
  findLost,
  findStuck,
  reconcile,
  retryFailed,
  type LostEmail,
  type ReconcileResult,
  type StuckEmail,
} from './operations.ts';
