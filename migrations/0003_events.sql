-- What happened to each email, for the app: an event log written in the same
-- transaction as the state change, a NOTIFY for listeners, and the webhook
-- delivery state of every event. Also the suppression list and the columns
-- that carry an email's Temporal priority and fairness key.

CREATE TABLE email_events (
  -- Increasing per email in commit order (every transition locks the email's
  -- row first), so it orders an email's events; also the de-duplication key.
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email_id uuid NOT NULL REFERENCES emails (id) ON DELETE CASCADE,
  type text NOT NULL CHECK (type IN ('sent', 'failed', 'blocked', 'cancelled', 'rejected', 'held', 'retrying')),
  occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- Attempts, errors, SMTP replies, block reasons: never a subject or a body.
  details jsonb NOT NULL DEFAULT '{}',
  -- Webhook delivery (WEBHOOK_URL): pending until the receiver answers 2xx
  -- (delivered), a permanent 4xx (refused), or the retry horizon passes (expired).
  webhook text NOT NULL DEFAULT 'pending' CHECK (webhook IN ('pending', 'delivered', 'refused', 'expired')),
  webhook_attempts integer NOT NULL DEFAULT 0,
  webhook_next_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  webhook_last_error text,
  webhook_done_at timestamptz
);
CREATE INDEX email_events_email ON email_events (email_id, id);
-- What the webhook sender scans: small while the receiver keeps up.
CREATE INDEX email_events_webhook_pending ON email_events (email_id, id) WHERE webhook = 'pending';

-- A trigger rather than a call in each transition: every path that changes an
-- email (src/email/transitions.ts, SQL functions, an operator's UPDATE) writes
-- its event in the same transaction, and none can forget to.
CREATE FUNCTION record_email_event() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  kind text;
  event_details jsonb;
  event_id bigint;
BEGIN
  IF TG_OP = 'INSERT' THEN
    kind := NEW.status;
  ELSIF NEW.status IS DISTINCT FROM OLD.status AND NEW.status IN ('sent', 'failed', 'blocked', 'cancelled', 'rejected') THEN
    kind := NEW.status;
  ELSIF NEW.held_since IS NOT NULL AND OLD.held_since IS NULL THEN
    kind := 'held';
  ELSE
    kind := 'retrying';
  END IF;
  event_details := jsonb_strip_nulls(CASE kind
    WHEN 'sent' THEN jsonb_build_object('attempts', NEW.attempts, 'messageId', NEW.message_id, 'smtpResponse', NEW.smtp_response,
                                        'possiblyDeliveredBefore', CASE WHEN NEW.possibly_delivered THEN true END)
    WHEN 'blocked' THEN jsonb_build_object('reason', NEW.block_reason)
    WHEN 'retrying' THEN jsonb_build_object('attempt', NEW.attempts, 'lastError', NEW.last_error)
    ELSE jsonb_build_object('attempts', NEW.attempts, 'lastError', NEW.last_error, 'smtpResponse', NEW.smtp_response)
  END);
  INSERT INTO email_events (email_id, type, details) VALUES (NEW.id, kind, event_details) RETURNING id INTO event_id;
  -- Delivered at commit, only if the transaction commits. The channel is named
  -- after the schema, so two installations in one database do not mix.
  PERFORM pg_notify(TG_TABLE_SCHEMA || '_events', json_build_object('id', event_id::text, 'emailId', NEW.id, 'type', kind)::text);
  RETURN NULL;
END $$;

-- The WHEN clauses keep the common transitions (queued → sending) from even
-- calling the function.
CREATE TRIGGER email_event AFTER UPDATE OF status, attempts, held_since ON emails FOR EACH ROW
  WHEN ((NEW.status IS DISTINCT FROM OLD.status AND NEW.status IN ('sent', 'failed', 'blocked', 'cancelled', 'rejected'))
        OR (NEW.held_since IS NOT NULL AND OLD.held_since IS NULL)
        OR (NEW.attempts > OLD.attempts AND NEW.attempts > 1))
  EXECUTE FUNCTION record_email_event();
-- A record written straight into a final state (an email refused on arrival).
CREATE TRIGGER email_event_on_insert AFTER INSERT ON emails FOR EACH ROW
  WHEN (NEW.status IN ('sent', 'failed', 'blocked', 'cancelled', 'rejected'))
  EXECUTE FUNCTION record_email_event();

-- Recipients never to send to again: a permanent refusal of the address found
-- by a delivery (reason `bounce`, with the email that found it and the reply),
-- or fed in by the app (a provider's complaint or bounce webhook, an unsubscribe).
-- No foreign key to the email: the suppression outlives its email's record.
CREATE TABLE suppressions (
  address text PRIMARY KEY CHECK (address = lower(address)),
  reason text NOT NULL CHECK (reason IN ('bounce', 'complaint', 'unsubscribe', 'manual')),
  detail text,
  email_id uuid,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Temporal task-queue priority (1 highest … 5 lowest; NULL: the server's
-- default, 3) and fairness, kept with the record so that every start of the
-- email's workflow (send, reconcile, retry, an SQL submission) uses the same.
ALTER TABLE emails
  ADD COLUMN priority_key smallint CHECK (priority_key BETWEEN 1 AND 5),
  ADD COLUMN fairness_key text CHECK (octet_length(fairness_key) BETWEEN 1 AND 64),
  ADD COLUMN fairness_weight real CHECK (fairness_weight BETWEEN 0.001 AND 1000);
