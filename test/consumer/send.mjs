// A consumer app's code, run with plain `node` from another folder: imports the
// installed package by name and sends one email. Prints one JSON line.
import { Mailer } from 'durable-mailer';

const mailer = await Mailer.connect();
try {
  const result = await mailer.send({
    from: 'shop@acme.example',
    to: 'buyer@example.com',
    subject: 'Order 1001',
    text: 'Thanks!',
  });
  console.log(JSON.stringify(result));
} finally {
  await mailer.close();
}
