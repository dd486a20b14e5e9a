// The service's own metrics, on the worker's Prometheus endpoint next to the
// SDK's (MAILER_METRICS_ADDRESS). Names follow Prometheus conventions: counters
// end in `_total` (the exporter adds it), durations are seconds with the unit
// in the name, tags are bounded sets (rules, error classes). Every counter is
// written once at zero when the worker starts, for each value of its tag, so
// a rate or an alert works from the first scrape rather than from the first
// event (`absent()` is a poor alert condition).
import type { MetricMeter } from '@temporalio/common';
import type { BlockRule } from './block-check.ts';
import type { SmtpErrorClass } from './smtp-errors.ts';

const BLOCK_RULES: readonly BlockRule[] = ['deny', 'allow', 'per_recipient_limit'];
/** The classes `deliver` retries (smtp-errors.ts: the transient kinds). */
const RETRIED_CLASSES: readonly SmtpErrorClass['type'][] = [
  'SmtpTemporary',
  'SmtpThrottled',
  'SmtpConnection',
  'SmtpAuth',
  'SmtpTls',
  'SmtpUnknown',
];

/** Where an unsent email waits; `retrying` and `held` are `sending` records between attempts or awaiting an operator. */
export const WAITING_STATES = ['queued', 'scheduled', 'sending', 'retrying', 'held'] as const;
export type WaitingState = (typeof WAITING_STATES)[number];

export interface Backlog {
  waiting: Record<WaitingState, number>;
  /** Seconds since the longest-waiting unsent email became due (submitted, or its send_at passed); 0 when none waits. */
  oldestUnsentAgeSeconds: number;
}

/**
 * Bucket bounds (seconds) of the histograms, for Runtime.install: the
 * exporter's defaults are milliseconds-shaped. Latency spans a fast send
 * (tens of ms) to the last retry of an outage (about 2 h).
 */
export const HISTOGRAM_BUCKETS: Record<string, number[]> = {
  mailer_delivery_latency: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 7200],
  mailer_purge_duration: [0.1, 0.5, 1, 5, 10, 30, 60, 120, 300],
};

export function createMetrics(meter: MetricMeter) {
  const sent = meter.createCounter('mailer_emails_sent', 'emails', 'Emails accepted by the SMTP server');
  const failed = meter.createCounter('mailer_emails_failed', 'emails', 'Emails that ended failed');
  const blocked = meter.createCounter('mailer_emails_blocked', 'emails', 'Emails stopped by a rule or limit');
  const retried = meter.createCounter(
    'mailer_delivery_retries',
    'attempts',
    'Delivery attempts that failed and will be retried',
  );
  const latency = meter.createHistogram(
    'mailer_delivery_latency',
    'float',
    'seconds',
    'From submission (or send_at) to the SMTP server accepting the email',
  );
  const purged = meter.createCounter(
    'mailer_emails_purged',
    'emails',
    'Final emails whose content was purged (what="content") or whose record was deleted (what="record")',
  );
  const purgeDuration = meter.createHistogram(
    'mailer_purge_duration',
    'float',
    'seconds',
    'Time of one purge activity (up to its one-minute budget)',
  );
  const waiting = meter.createGauge(
    'mailer_emails_waiting',
    'int',
    'emails',
    'Unsent emails by where they wait, read from Postgres every MAILER_BACKLOG_INTERVAL',
  );
  const oldest = meter.createGauge(
    'mailer_oldest_unsent_email_age_seconds',
    'float',
    'seconds',
    'Age of the longest-waiting unsent email that is due (0 when none waits)',
  );
  const sampledAt = meter.createGauge(
    'mailer_backlog_sampled_timestamp_seconds',
    'float',
    'seconds',
    'When the backlog gauges were last read (Unix time): stale gauges show here',
  );

  sent.add(0);
  failed.add(0);
  for (const rule of BLOCK_RULES) blocked.add(0, { rule });
  for (const errorClass of RETRIED_CLASSES) retried.add(0, { error_class: errorClass });
  for (const what of ['content', 'record']) purged.add(0, { what });

  return {
    sent(latencyMs: number): void {
      sent.add(1);
      latency.record(Math.max(0, latencyMs) / 1000);
    },
    failed: (): void => failed.add(1),
    blocked: (rule: BlockRule): void => blocked.add(1, { rule }),
    retried: (errorClass: string): void => retried.add(1, { error_class: errorClass }),
    purged(what: 'content' | 'record', count: number): void {
      if (count > 0) purged.add(count, { what });
    },
    purgeRan: (seconds: number): void => purgeDuration.record(seconds),
    backlog(b: Backlog, at: Date): void {
      for (const state of WAITING_STATES) waiting.set(b.waiting[state], { state });
      oldest.set(b.oldestUnsentAgeSeconds);
      sampledAt.set(at.getTime() / 1000);
    },
  };
}

export type ServiceMetrics = ReturnType<typeof createMetrics>;
