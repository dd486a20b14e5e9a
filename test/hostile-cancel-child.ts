// Run as a child process by test/hostile-library.test.ts: cancel() an email
// whose workflow cannot finish (no worker polls its task queue) with a short
// timeout, then close(). The process must then exit on its own, exit code 0:
// nothing left polling, no uncaught error from a closed channel.
import { Mailer } from '../src/index.ts';
import { loadConfig } from '../src/config.ts';

const mailer = await Mailer.connect({ config: loadConfig() });
const { id } = await mailer.send({
  from: 'app@acme.example',
  to: 'ann@example.com',
  subject: 'Cancel me',
  text: 'Hello',
});
const result = await mailer.cancel(id, { timeoutMs: 300 });
await mailer.close();
console.log(JSON.stringify({ id, status: result.status }));
