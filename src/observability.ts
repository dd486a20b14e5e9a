// Logs and metrics for the worker process, through the Temporal SDK's own
// runtime so that workflow logs stay replay-safe and our counters are served
// on the same Prometheus endpoint as the SDK's metrics.
//  - Logs: one JSON object per line (timestamp, level, message, and the SDK's
//    context: workflowId, activityType, attempt…). Info-level logs carry ids,
//    steps and outcomes only — never an address, subject or body.
//  - Metrics: MAILER_METRICS_ADDRESS (host:port) serves /metrics; off when unset.
import { DefaultLogger, type LogEntry, type LogLevel, Runtime } from '@temporalio/worker';
import { HISTOGRAM_BUCKETS } from './activities/metrics.ts';

export interface ObservabilityConfig {
  logLevel: LogLevel;
  logFormat: 'json' | 'pretty';
  metricsAddress: string | undefined;
}

function jsonLine(entry: LogEntry): void {
  const { message, level, timestampNanos, meta } = entry;
  const line = { ts: new Date(Number(timestampNanos / 1_000_000n)).toISOString(), level, msg: message, ...meta };
  process.stdout.write(`${JSON.stringify(line, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
}

/** Installs the process-wide runtime. Call once, before any worker or connection is created. */
export function installRuntime(config: ObservabilityConfig): void {
  Runtime.install({
    logger:
      config.logFormat === 'json' ? new DefaultLogger(config.logLevel, jsonLine) : new DefaultLogger(config.logLevel),
    ...(config.metricsAddress
      ? {
          telemetryOptions: {
            metrics: {
              prometheus: {
                bindAddress: config.metricsAddress,
                // Prometheus conventions: counters end in _total, histograms carry their
                // unit, durations are seconds (the SDK's own histograms too).
                countersTotalSuffix: true,
                unitSuffix: true,
                useSecondsForDurations: true,
                histogramBucketOverrides: HISTOGRAM_BUCKETS,
              },
            },
          },
        }
      : {}),
  });
}
