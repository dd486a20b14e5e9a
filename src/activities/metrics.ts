// The service's own counters, on the worker's Prometheus endpoint next to the
// SDK's (MAILER_METRICS_ADDRESS). Tags are bounded sets: rules, error classes.
import { Context } from '@temporalio/activity';

type Tags = Record<string, string>;

export const metrics = {
  sent: (latencyMs: number) => {
    const meter = Context.current().metricMeter;
    meter.createCounter('mailer_emails_sent', 'emails', 'Emails accepted by the SMTP server').add(1);
    meter.createHistogram('mailer_delivery_latency', 'int', 'ms', 'From submission (or send_at) to the SMTP server accepting the email').record(Math.max(0, Math.round(latencyMs)));
  },
  failed: (tags: Tags) => Context.current().metricMeter.createCounter('mailer_emails_failed', 'emails', 'Emails that ended failed').add(1, tags),
  blocked: (tags: Tags) => Context.current().metricMeter.createCounter('mailer_emails_blocked', 'emails', 'Emails stopped by a rule or limit').add(1, tags),
  retried: (tags: Tags) => Context.current().metricMeter.createCounter('mailer_delivery_retries', 'attempts', 'Delivery attempts that failed and will be retried').add(1, tags),
};
