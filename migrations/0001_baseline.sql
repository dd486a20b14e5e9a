-- The layout the service had before it moved into a schema of its own, in
-- one file. Applied with search_path set to the service's schema (MAILER_SCHEMA,
-- default `mailer`), so every name below lands there, never in `public`.
-- A database at that older layout (tables in `public`, ledger
-- `public.schema_migrations` with migrations 1-3) is moved here instead, with
-- its data, and this migration is recorded as applied (src/db/migrate.ts).

-- The email record is written before any workflow starts: it is the durable
-- truth. Temporal drives the steps; these columns are what survives anything.
CREATE TABLE emails (
  id uuid PRIMARY KEY,
  -- Business idempotency: the same key always means the same email.
  idempotency_key text UNIQUE,
  payload_hash text NOT NULL,
  -- Submission time: per-recipient limits are judged by it, never by when a
  -- backlog happens to be processed.
  created_on timestamptz NOT NULL DEFAULT clock_timestamp(),
  sender jsonb NOT NULL,
  to_addrs jsonb NOT NULL,
  cc_addrs jsonb NOT NULL DEFAULT '[]',
  bcc_addrs jsonb NOT NULL DEFAULT '[]',
  reply_to jsonb NOT NULL DEFAULT '[]',
  subject text NOT NULL,
  text_body text,
  html_body text,
  headers jsonb NOT NULL DEFAULT '{}',
  send_at timestamptz,
  status text NOT NULL DEFAULT 'queued'
    CHECK (status IN ('queued', 'scheduled', 'blocked', 'sending', 'sent', 'failed', 'cancelled')),
  -- The permanent guard against a second send, whatever Temporal remembers.
  email_has_been_sent boolean NOT NULL DEFAULT false,
  sent_at timestamptz,
  message_id text NOT NULL UNIQUE,
  smtp_response text,
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  block_reason jsonb,
  mime_size integer,
  workflow_id text NOT NULL UNIQUE,
  -- Compare-and-set claim of the one delivery attempt allowed in flight.
  delivery_claim uuid,
  delivery_claimed_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  CHECK (text_body IS NOT NULL OR html_body IS NOT NULL),
  CHECK (NOT email_has_been_sent OR sent_at IS NOT NULL)
);
CREATE INDEX emails_status_created ON emails (status, created_on DESC);
CREATE INDEX emails_created ON emails (created_on DESC, id DESC);

-- Every recipient (to, cc, bcc), normalised, with the submission time copied
-- so the per-recipient window is one index range scan.
CREATE TABLE email_recipients (
  email_id uuid NOT NULL REFERENCES emails (id) ON DELETE CASCADE,
  address text NOT NULL,
  created_on timestamptz NOT NULL,
  PRIMARY KEY (email_id, address)
);
CREATE INDEX email_recipients_window ON email_recipients (address, created_on, email_id);

-- Attachments live here, with the email, so any worker on any host can build
-- the message; only the email id ever travels through Temporal.
CREATE TABLE email_attachments (
  email_id uuid NOT NULL REFERENCES emails (id) ON DELETE CASCADE,
  position integer NOT NULL,
  filename text NOT NULL,
  content_type text NOT NULL,
  content bytea NOT NULL,
  size integer NOT NULL,
  checksum text NOT NULL,
  content_id text,
  PRIMARY KEY (email_id, position),
  UNIQUE (email_id, content_id)
);

-- Allow and deny rules: an exact address or a whole domain ('@example.com').
CREATE TABLE recipient_rules (
  kind text NOT NULL CHECK (kind IN ('allow', 'deny')),
  pattern text NOT NULL CHECK (pattern = lower(pattern)),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (kind, pattern)
);

-- At most max_emails per recipient within window_minutes (one row; the
-- configuration's default applies while it is absent).
CREATE TABLE recipient_limits (
  scope text PRIMARY KEY CHECK (scope = 'per_recipient'),
  max_emails integer NOT NULL CHECK (max_emails > 0),
  window_minutes integer NOT NULL CHECK (window_minutes > 0),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- The uncertain window: an attempt that claimed the email and never released
-- the claim (its worker died) may have been accepted by the SMTP server before
-- the sent flag was written. The next attempt records that here.
ALTER TABLE emails
  ADD COLUMN possibly_delivered boolean NOT NULL DEFAULT false,
  -- Attempts that sent again after such an unfinished attempt (policy `resend`).
  ADD COLUMN uncertain_resends integer NOT NULL DEFAULT 0,
  -- Since when the email waits for an operator's decision (policy `hold`).
  ADD COLUMN held_since timestamptz;
