-- Retention. Once an email has been final for EMAIL_CONTENT_RETENTION, its
-- bodies, attachments, addresses and headers are purged (src/email/retention.ts).
-- What the guarantees need stays: id, status, the sent flag and time, the
-- Message-ID, the idempotency key and payload hash, attempts, timestamps.
--
-- Nothing here rewrites the table: a nullable column without a default and
-- dropping NOT NULL change only the catalogue.
ALTER TABLE emails
  ADD COLUMN purged_at timestamptz,
  ALTER COLUMN sender DROP NOT NULL,
  ALTER COLUMN subject DROP NOT NULL;

-- The body check becomes "content present, unless purged". The old check is
-- found by what it says, not by a generated name (a database moved from the
-- 0.1 layout may have named it differently).
DO $$
DECLARE c record;
BEGIN
  FOR c IN SELECT conname FROM pg_constraint
            WHERE conrelid = 'emails'::regclass AND contype = 'c'
              AND pg_get_constraintdef(oid) ~ 'text_body IS NOT NULL'
  LOOP
    EXECUTE format('ALTER TABLE emails DROP CONSTRAINT %I', c.conname);
  END LOOP;
END $$;
-- NOT VALID: every existing row satisfies the stricter check it replaces, so
-- there is nothing to scan while the migration holds the table's lock. New and
-- updated rows are checked as usual. (`ALTER TABLE mailer.emails VALIDATE
-- CONSTRAINT emails_content_or_purged` marks it valid without blocking writes.)
ALTER TABLE emails ADD CONSTRAINT emails_content_or_purged
  CHECK (purged_at IS NOT NULL OR (sender IS NOT NULL AND subject IS NOT NULL AND (text_body IS NOT NULL OR html_body IS NOT NULL)))
  NOT VALID;

-- The purge walks final, unpurged emails from the longest-final one: a purged
-- row leaves this index, so each batch starts where the work is, whatever the
-- table's size. `updated_at` of a final email is when it became final.
CREATE INDEX emails_purge_due ON emails (updated_at)
  WHERE purged_at IS NULL AND status IN ('sent', 'blocked', 'failed', 'cancelled');

-- The backlog gauges: unfinished emails by the time they became due (their
-- submission, or send_at if later). The oldest due one is the first entry, and
-- counting reads the backlog, never the sent history.
CREATE INDEX emails_unsent_due ON emails ((greatest(created_on, send_at)))
  WHERE status IN ('queued', 'scheduled', 'sending');
