// What every phase of the bench shares: the stack it runs on, the clients,
// the results being written, and small helpers. Built once by bench/run.ts.
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import type { Mailer } from '../src/index.ts';
import type { StackInfo } from '../dev/stack/index.ts';
import type { SmtpSink } from '../dev/stack/smtp-sink.ts';
import type { BenchChild } from './children.ts';
import type { BenchOptions } from './options.ts';
import type { BenchResults } from './results.ts';

export const log = (line: string) => console.error(`[bench] ${line}`);
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Set when the bench is interrupted (SIGINT/SIGTERM): every wait gives up. */
export const interruption = { interrupted: false };
export function throwIfInterrupted(): void {
  if (interruption.interrupted) throw new Error('interrupted');
}

/** A representative transactional email: a short text part and an HTML part. */
export const TEXT = `Hello,\n\nThank you for your order. Your invoice is ready and can be viewed in your account.\n\n${'Order line: widget, quantity 1, price 9.99 EUR.\n'.repeat(6)}\nRegards,\nAcme Billing`;
export const HTML = `<html><body><p>Hello,</p><p>Thank you for your order. Your invoice is ready.</p><table>${'<tr><td>widget</td><td>1</td><td>9.99 EUR</td></tr>'.repeat(20)}</table><p>Regards,<br>Acme Billing</p></body></html>`;
export const FROM = 'Acme Billing <billing@acme.example>';
export const emailInput = (tag: string, i: number) => ({
  from: FROM,
  to: [`user${i}@example.com`],
  subject: `Bench ${tag} ${i}`,
  text: TEXT,
  html: HTML,
});

/** One send() call: when it was due (open loop), called, and returned (ms). */
export interface SendRecord {
  id: string;
  scheduledAt: number;
  calledAt: number;
  returnedAt: number;
}

/** A real worker kept running by the pipeline phase for the latency phase (already warm). */
export interface WarmWorker {
  child: BenchChild;
  mailer: Mailer;
  taskQueue: string;
}

export interface BenchContext {
  options: BenchOptions;
  results: BenchResults;
  /** Part of every task queue name: runs never share one. */
  runId: string;
  info: StackInfo;
  sink: SmtpSink;
  temporal: Client;
  /** A plain connection for the bench's own queries (not the pool send() uses). */
  db: pg.Client;
  /** Email id → when the sink accepted it (ms), for every message it accepts. */
  receipts: Map<string, number>;
  /** The environment every worker gets (stack addresses, no reconcile). */
  baseEnv: Record<string, string>;
  /** The real worker's environment on `taskQueue`, with the pre-built bundle of src/workflows. */
  workerEnv(taskQueue: string, extra?: Record<string, string>): Record<string, string>;
  /** A Mailer on `taskQueue` sharing the bench's pool and Temporal client. */
  mailerFor(taskQueue: string): Promise<Mailer>;
  realBundlePath: string;
  floorBundlePath: string;
  warmWorker?: WarmWorker;
}
