-- Enqueueing inside the caller's own transaction: the email commits if and
-- only if the business change that causes it commits. Two ways in write here:
-- `send(input, { db: client })` from Node, and `send_email(...)` below from
-- any language. Neither starts a workflow (a start is not transactional);
-- each leaves a row in `outbox`, and the relay in every worker starts the
-- workflows of committed rows, then deletes them. The ordinary send() path
-- writes no outbox row: it starts its workflow itself, right after its commit.

-- Emails whose workflow is not started yet. Only such rows live here, so the
-- relay's sweep reads a table that stays small whatever the size of `emails`.
CREATE TABLE outbox (
  email_id uuid PRIMARY KEY REFERENCES emails (id) ON DELETE CASCADE,
  enqueued_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX outbox_enqueued ON outbox (enqueued_at);

-- Postgres delivers a notification only when the inserting transaction
-- commits, and drops it on rollback: the relay wakes for committed emails only.
-- One per statement (and Postgres folds identical ones within a transaction).
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify(TG_TABLE_SCHEMA || '_outbox', '');
  RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- The message as submitted through SQL, held until the worker's validator (the
-- same one send() uses) turns it into the email's columns (the row is then
-- deleted) or rejects it (the row is kept, so the caller can see what was refused).
CREATE TABLE submissions (
  email_id uuid PRIMARY KEY REFERENCES emails (id) ON DELETE CASCADE,
  message jsonb NOT NULL
);

-- A submitted email has no sender, subject or Message-ID until it is admitted;
-- `message_id IS NULL` marks it. `rejected`: the validator refused it; final.
ALTER TABLE emails
  ALTER COLUMN sender DROP NOT NULL,
  ALTER COLUMN subject DROP NOT NULL,
  ALTER COLUMN message_id DROP NOT NULL,
  ALTER COLUMN to_addrs SET DEFAULT '[]',
  ADD COLUMN rejection jsonb;

DO $$
DECLARE c record;
BEGIN
  -- The baseline's status CHECK and its "text or html" CHECK were unnamed.
  FOR c IN SELECT conname FROM pg_constraint
            WHERE conrelid = 'emails'::regclass AND contype = 'c'
              AND (pg_get_constraintdef(oid) LIKE '%status%' OR pg_get_constraintdef(oid) LIKE '%html_body%')
  LOOP
    EXECUTE format('ALTER TABLE emails DROP CONSTRAINT %I', c.conname);
  END LOOP;
END $$;

ALTER TABLE emails
  ADD CONSTRAINT emails_status_check
    CHECK (status IN ('queued', 'scheduled', 'blocked', 'sending', 'sent', 'failed', 'cancelled', 'rejected')),
  -- A purged email (retention, 0002) keeps its Message-ID but no content.
  ADD CONSTRAINT emails_admitted CHECK (
    purged_at IS NOT NULL
    OR (message_id IS NOT NULL AND sender IS NOT NULL AND subject IS NOT NULL AND (text_body IS NOT NULL OR html_body IS NOT NULL))
    OR (message_id IS NULL AND status IN ('queued', 'scheduled', 'cancelled', 'rejected')));

-- Raises invalid_parameter_value (22023) naming the field, as "field: reason"
-- with the field also in the error's COLUMN; returns nothing.
CREATE FUNCTION message_error(field text, reason text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '%: %', field, reason USING ERRCODE = '22023', COLUMN = field;
END $$;

-- The cheap structural checks, at call time: the shape of send()'s input.
-- Everything else (addresses, sizes, header names, base64) is the worker's
-- validator's, which ends a bad email as `rejected`.
CREATE FUNCTION check_message(message jsonb) RETURNS void LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  k text;
  f text;
  v jsonb;
  i integer;
BEGIN
  IF message IS NULL THEN PERFORM message_error('message', 'is required'); END IF;
  IF jsonb_typeof(message) <> 'object' THEN
    PERFORM message_error('message', format('expected a JSON object, not %s', jsonb_typeof(message)));
  END IF;
  FOR k IN SELECT jsonb_object_keys(message) LOOP
    IF k NOT IN ('from', 'to', 'cc', 'bcc', 'replyTo', 'subject', 'text', 'html', 'headers', 'attachments') THEN
      PERFORM message_error(left(regexp_replace(k, '[[:cntrl:]]', '?', 'g'), 100), 'unknown field');
    END IF;
  END LOOP;
  IF NOT message ? 'from' THEN PERFORM message_error('from', 'is required'); END IF;
  IF jsonb_typeof(message->'from') NOT IN ('string', 'object') THEN
    PERFORM message_error('from', 'expected an address string or a { name, address } object');
  END IF;
  IF NOT message ? 'to' THEN PERFORM message_error('to', 'is required'); END IF;
  FOREACH f IN ARRAY ARRAY['to', 'cc', 'bcc', 'replyTo'] LOOP
    CONTINUE WHEN NOT message ? f;
    v := message->f;
    IF jsonb_typeof(v) = 'array' THEN
      IF jsonb_array_length(v) = 0 THEN PERFORM message_error(f, 'must contain at least one address'); END IF;
      FOR i IN 0 .. jsonb_array_length(v) - 1 LOOP
        IF jsonb_typeof(v->i) NOT IN ('string', 'object') THEN
          PERFORM message_error(format('%s[%s]', f, i), 'expected an address string or a { name, address } object');
        END IF;
      END LOOP;
    ELSIF jsonb_typeof(v) NOT IN ('string', 'object') THEN
      PERFORM message_error(f, 'expected an address string, a { name, address } object, or an array of them');
    END IF;
  END LOOP;
  IF NOT message ? 'subject' THEN PERFORM message_error('subject', 'is required'); END IF;
  IF jsonb_typeof(message->'subject') <> 'string' THEN PERFORM message_error('subject', 'expected a string'); END IF;
  IF NOT message ? 'text' AND NOT message ? 'html' THEN PERFORM message_error('text', 'a text or html body is required'); END IF;
  FOREACH f IN ARRAY ARRAY['text', 'html'] LOOP
    IF message ? f AND jsonb_typeof(message->f) <> 'string' THEN PERFORM message_error(f, 'expected a string'); END IF;
  END LOOP;
  IF message ? 'headers' AND jsonb_typeof(message->'headers') <> 'object' THEN
    PERFORM message_error('headers', 'expected an object');
  END IF;
  IF message ? 'attachments' THEN
    v := message->'attachments';
    IF jsonb_typeof(v) <> 'array' THEN PERFORM message_error('attachments', 'expected an array'); END IF;
    FOR i IN 0 .. jsonb_array_length(v) - 1 LOOP
      IF jsonb_typeof(v->i) <> 'object' THEN PERFORM message_error(format('attachments[%s]', i), 'expected an object'); END IF;
      IF jsonb_typeof(v->i->'filename') IS DISTINCT FROM 'string' THEN
        PERFORM message_error(format('attachments[%s].filename', i), 'expected a string');
      END IF;
      IF jsonb_typeof(v->i->'content') IS DISTINCT FROM 'string' THEN
        PERFORM message_error(format('attachments[%s].content', i), 'expected a base64 string');
      END IF;
    END LOOP;
  END IF;
END $$;

-- The way in for every language, inside the caller's transaction:
--   SELECT mailer.send_email('{"from": …, "to": …, "subject": …, "text": …}', 'order-42-confirmation');
-- Returns the email's id. The same idempotency key with the same message and
-- send_at returns the same id; with another one it raises unique_violation
-- (23505). Nothing is started until the caller commits.
CREATE FUNCTION send_email(message jsonb, idempotency_key text DEFAULT NULL, send_at timestamptz DEFAULT NULL)
RETURNS uuid LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
-- A bare name is a column (the parameters are always written send_email.name).
#variable_conflict use_column
DECLARE
  new_id uuid := gen_random_uuid();
  hash text;
  found_id uuid;
  found_hash text;
BEGIN
  PERFORM check_message(message);
  IF send_email.idempotency_key IS NOT NULL THEN
    IF send_email.idempotency_key = '' THEN PERFORM message_error('idempotency_key', 'must not be empty'); END IF;
    IF length(send_email.idempotency_key) > 200 THEN PERFORM message_error('idempotency_key', 'is longer than 200 characters'); END IF;
    IF send_email.idempotency_key !~ '^[!-~]+$' THEN
      PERFORM message_error('idempotency_key', 'may contain only printable ASCII characters without spaces (0x21-0x7E)');
    END IF;
  END IF;
  -- jsonb's text form is canonical (key order, spacing), and the epoch does not
  -- depend on the session's TimeZone: the same submission always hashes alike.
  hash := 'sql:' || encode(sha256(convert_to(
    message::text || '|' || coalesce(extract(epoch FROM send_email.send_at)::text, ''), 'UTF8')), 'hex');
  INSERT INTO emails (id, idempotency_key, payload_hash, send_at, status, workflow_id)
  VALUES (new_id, send_email.idempotency_key, hash, send_email.send_at,
          CASE WHEN send_email.send_at > clock_timestamp() THEN 'scheduled' ELSE 'queued' END, 'email-' || new_id)
  ON CONFLICT (idempotency_key) DO NOTHING;
  IF NOT FOUND THEN
    SELECT e.id, e.payload_hash INTO found_id, found_hash FROM emails e WHERE e.idempotency_key = send_email.idempotency_key;
    IF found_hash IS DISTINCT FROM hash THEN
      RAISE EXCEPTION 'idempotency_key: this key was already used for an email with a different message'
        USING ERRCODE = '23505', COLUMN = 'idempotency_key';
    END IF;
    RETURN found_id;
  END IF;
  INSERT INTO submissions (email_id, message) VALUES (new_id, message);
  INSERT INTO outbox (email_id) VALUES (new_id);
  RETURN new_id;
END $$;

-- `rejected` is final too: the retention purge (0002) walks it like the others.
DROP INDEX emails_purge_due;
CREATE INDEX emails_purge_due ON emails (updated_at)
  WHERE purged_at IS NULL AND status IN ('sent', 'blocked', 'failed', 'cancelled', 'rejected');
