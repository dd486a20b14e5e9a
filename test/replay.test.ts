// Replay gate: histories recorded from real runs (test/fixtures/histories,
// made by `npm run record-histories`) must replay against today's workflow
// code. A change that would break emails already running fails here.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';

const dir = path.resolve(import.meta.dirname, 'fixtures/histories');

async function histories() {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(
    files.map(async (file) => ({
      workflowId: file,
      history: historyFromJSON(JSON.parse(await readFile(path.join(dir, file), 'utf8'))),
    })),
  );
}

describe('workflow replay', () => {
  it('replays every recorded history without a determinism error', async () => {
    const recorded = await histories();
    expect(recorded.length).toBeGreaterThanOrEqual(6);
    const results = [];
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: { codePath: inject('workflowBundlePath') } },
      recorded,
    )) {
      results.push({ id: result.workflowId, error: result.error?.message });
    }
    expect(results).toEqual(recorded.map((r) => ({ id: r.workflowId, error: undefined })));
  });

  it('fails when the workflow changes the order of its steps', async () => {
    // The same workflow with prepare before blockCheck: history says otherwise.
    const altered = await bundleWorkflowCode({
      workflowsPath: path.resolve(import.meta.dirname, 'fixtures/altered-workflow.ts'),
      logger: new DefaultLogger('WARN'),
    });
    const sent = (await histories()).find((h) => h.workflowId === 'send-email-sent.json')!;
    const error = await Worker.runReplayHistory({ workflowBundle: { code: altered.code } }, sent.history).catch(
      (e: unknown) => e,
    );
    expect((error as Error).name).toBe('DeterminismViolationError');
  });
});
