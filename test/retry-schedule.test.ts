// deliver's declared retry schedule, checked on Temporal's time-skipping test
// server so hours of backoff pass in seconds. The activities here are fakes
// (deliver always fails transiently): this tests the workflow's retry logic.
import { ApplicationFailure } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { Activities } from '../src/activities/index.ts';
import { loadConfig, type DeliverPolicy } from '../src/config.ts';
import { SEARCH_ATTRIBUTES } from '../src/search-attributes.ts';
import { resolveBinary, TEMPORAL_TEST_SERVER } from '../dev/stack/binaries.ts';

describe('deliver retry schedule (time-skipping server)', () => {
  let testEnv: TestWorkflowEnvironment;
  beforeAll(async () => {
    const server = await resolveBinary(TEMPORAL_TEST_SERVER, { log: () => {} });
    testEnv = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: server.path } },
    });
    // The workflow upserts EmailStatus; the test server must know it, as the dev server does.
    const types = temporal.api.enums.v1.IndexedValueType;
    await testEnv.connection.operatorService.addSearchAttributes({
      namespace: testEnv.namespace ?? 'default',
      searchAttributes: Object.fromEntries(
        SEARCH_ATTRIBUTES.map((k) => [
          k.name,
          k.type === 'INT' ? types.INDEXED_VALUE_TYPE_INT : types.INDEXED_VALUE_TYPE_KEYWORD,
        ]),
      ),
    });
  });
  afterAll(() => testEnv?.teardown());

  async function runUntilFailed(policy: DeliverPolicy, taskQueue: string) {
    const attemptTimes: number[] = [];
    let markedFailed = 0;
    const fakes: Pick<Activities, 'blockCheck' | 'prepare' | 'markFailed' | 'markCancelled'> = {
      blockCheck: async () => ({ outcome: 'pass' }),
      prepare: async () => ({ outcome: 'ready', size: 100, deliverTaskQueue: `${taskQueue}-deliver`, policy }),
      markFailed: async () => {
        markedFailed++;
        return 'failed';
      },
      markCancelled: async () => 'cancelled',
    };
    const deliver: Pick<Activities, 'deliver'> = {
      deliver: async () => {
        // The server's (skipped) clock at the moment the attempt runs.
        attemptTimes.push(await testEnv.currentTimeMs());
        throw ApplicationFailure.retryable('421 4.3.2 Service not available', 'SmtpTemporary');
      },
    };
    const bundle = { codePath: inject('workflowBundlePath') };
    const main = await Worker.create({
      connection: testEnv.nativeConnection,
      taskQueue,
      workflowBundle: bundle,
      activities: fakes,
    });
    const delivery = await Worker.create({
      connection: testEnv.nativeConnection,
      taskQueue: `${taskQueue}-deliver`,
      activities: deliver,
    });
    const error = await main.runUntil(
      delivery.runUntil(
        testEnv.client.workflow
          .execute('sendEmail', {
            taskQueue,
            workflowId: `retry-${taskQueue}`,
            args: [{ emailId: '00000000-0000-4000-8000-000000000001' }],
          })
          .catch((e: unknown) => e),
      ),
    );
    const intervals = attemptTimes.slice(1).map((t, i) => Math.round((t - attemptTimes[i]!) / 1000));
    return { error, intervals, attempts: attemptTimes.length, markedFailed };
  }

  it('retries after 2 s, doubling up to the 10-minute cap, then fails the email after the default budget', async () => {
    const policy = loadConfig({ DATABASE_URL: 'postgres://x@localhost/x' }).deliver;
    expect(policy).toMatchObject({
      initialIntervalMs: 2000,
      backoffCoefficient: 2,
      maximumIntervalMs: 600_000,
      maximumAttempts: 20,
    });
    const { error, intervals, attempts, markedFailed } = await runUntilFailed(policy, 'retry-default');
    expect(attempts).toBe(20);
    expect(intervals).toEqual([2, 4, 8, 16, 32, 64, 128, 256, 512, ...Array(10).fill(600)]);
    // An SMTP outage of an hour does not fail an email: the budget spans ~1 h 57 min.
    expect(intervals.reduce((a, b) => a + b, 0)).toBeGreaterThan(3600);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(((error as WorkflowFailedError).cause as ApplicationFailure).type).toBe('EmailFailed');
    expect(markedFailed).toBe(1);
  });

  it('keeps the classic "5 retries" setting available: gives up after about a minute', async () => {
    const policy = loadConfig({ DATABASE_URL: 'postgres://x@localhost/x', DELIVER_MAX_ATTEMPTS: '6' }).deliver;
    const { intervals, attempts, markedFailed } = await runUntilFailed(policy, 'retry-five');
    expect(attempts).toBe(6);
    expect(intervals).toEqual([2, 4, 8, 16, 32]);
    expect(markedFailed).toBe(1);
  });
});
