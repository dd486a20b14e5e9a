-- The uncertain window: an attempt that claimed the email and never released
-- the claim (its worker died) may have been accepted by the SMTP server before
-- the sent flag was written. The next attempt records that here.
ALTER TABLE emails
  ADD COLUMN possibly_delivered boolean NOT NULL DEFAULT false,
  -- Attempts that sent again after such an unfinished attempt (policy `resend`).
  ADD COLUMN uncertain_resends integer NOT NULL DEFAULT 0,
  -- Since when the email waits for an operator's decision (policy `hold`).
  ADD COLUMN held_since timestamptz;
