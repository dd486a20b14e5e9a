// The Temporal Web UI as an operator uses it: filter emails by EmailStatus,
// open the stuck one, see its pending deliver activity during an SMTP outage.
// Saves screenshots under test-artifacts/.
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchBrowser } from './browser.ts';
import { createTestEnv, type TestEnv, waitFor } from './helpers.ts';

const artifacts = path.resolve(import.meta.dirname, '../test-artifacts');

describe('Temporal Web UI', () => {
  let env: TestEnv;
  let browser: Browser;
  let blackHole: net.Server;
  const sockets = new Set<net.Socket>();
  beforeAll(async () => {
    // An SMTP server that accepts connections and never answers: each delivery
    // attempt hangs until nodemailer's greeting timeout, like a black-holed host.
    blackHole = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const port = (blackHole.address() as net.AddressInfo).port;
    env = await createTestEnv({
      DELIVER_MAX_ATTEMPTS: '0',
      DELIVER_RETRY_MAX_INTERVAL: '500ms',
      DELIVER_TIMEOUT: '30s',
      DELIVER_HEARTBEAT_TIMEOUT: '5s',
    });
    await env.startWorker({ smtpUrl: `smtp://127.0.0.1:${port}` });
    [browser] = await Promise.all([launchBrowser(), mkdir(artifacts, { recursive: true })]);
  }, 600_000);
  afterAll(async () => {
    await browser?.close();
    for (const s of sockets) s.destroy();
    blackHole?.close();
    await env?.close();
  });

  it('finds a stuck email by EmailStatus and shows its pending deliver activity', async () => {
    const sent = await env.client.send({
      from: 'ops@acme.example',
      to: 'stuck@example.com',
      subject: 'S',
      text: 'Hello',
    });
    // Retrying, and an attempt in flight right now.
    await waitFor(
      'a retrying email with a pending deliver attempt',
      async () => {
        const view = await env.client.status(sent.id);
        return view.workflow?.state?.status === 'retrying' && view.workflow.pendingActivity?.type === 'deliver';
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );

    const ui = inject('stack').temporalUiUrl!;
    const query = `EmailStatus="retrying" AND TaskQueue="${env.config.temporal.taskQueue}"`;
    // The page lists what visibility has, which trails the upsert by a moment; it is loaded once.
    await waitFor('visibility to list the email as retrying', async () => {
      for await (const w of env.client.temporal.workflow.list({ query }))
        if (w.workflowId === sent.workflowId) return true;
      return false;
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${ui}/namespaces/default/workflows?query=${encodeURIComponent(query)}`);
    const link = page.getByRole('link', { name: sent.workflowId });
    await link.waitFor({ timeout: 30_000 });
    await page.screenshot({ path: path.join(artifacts, 'web-ui-filter-retrying.png') });

    await link.click();
    await page.getByText('Pending Activities').first().waitFor({ timeout: 30_000 });
    await page.getByText('Pending Activities').first().click();
    await page.getByText('deliver').first().waitFor({ timeout: 30_000 });
    await page.screenshot({ path: path.join(artifacts, 'web-ui-pending-deliver.png'), fullPage: true });
    const text = await page.locator('body').innerText();
    expect(text).toContain(sent.workflowId);
    expect(text).toContain('deliver');
    await page.close();
  });
});
