-- A stack health check: the smoke workflow writes one row here and sends one
-- message, proving Temporal, Postgres and SMTP work together.
CREATE TABLE smoke_checks (
  id text PRIMARY KEY,
  message_id text NOT NULL,
  smtp_response text NOT NULL,
  checked_at timestamptz NOT NULL DEFAULT now()
);
