import type pg from 'pg';
import type { SmtpTransport } from '../smtp.ts';

export interface SmokeDeps {
  pool: pg.Pool;
  transport: SmtpTransport;
}

export function createSmokeActivities({ pool, transport }: SmokeDeps) {
  return {
    /**
     * Sends one message and records it. Keyed by the check id, so a retry after
     * the row exists does not send again.
     */
    async smokeCheck(checkId: string, to: string): Promise<{ messageId: string }> {
      const existing = await pool.query<{ message_id: string }>('SELECT message_id FROM smoke_checks WHERE id = $1', [checkId]);
      if (existing.rows[0]) return { messageId: existing.rows[0].message_id };
      const messageId = `<smoke-${checkId}@mailer.local>`;
      const info = (await transport.sendMail({
        from: 'mailer-smoke@mailer.local',
        to,
        subject: `Smoke check ${checkId}`,
        text: `The mailer stack works: Temporal ran this, Postgres recorded it (check ${checkId}).`,
        messageId,
      })) as { response: string };
      await pool.query('INSERT INTO smoke_checks (id, message_id, smtp_response) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING', [
        checkId,
        messageId,
        info.response,
      ]);
      return { messageId };
    },
  };
}
