// The same package from CommonJS (Node >= 20.19 loads its ESM through require()).
const mailer = require('durable-mailer');
const worker = require('durable-mailer/worker');
console.log(
  JSON.stringify({
    Mailer: typeof mailer.Mailer,
    ValidationError: typeof mailer.ValidationError,
    EMAIL_STATUSES: mailer.EMAIL_STATUSES,
    startWorker: typeof worker.startWorker,
  }),
);
