// A real SMTP server (smtp-server, from the nodemailer authors) that accepts
// mail on 127.0.0.1 and keeps every message exactly as received: the raw bytes
// as `<n>.eml` and the envelope as `<n>.json`, so people and tests read what
// was really delivered. Tests script its replies (4xx/5xx, delays, refusal)
// to exercise the pipeline's retry and failure paths against a real peer.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SMTPServer, type SMTPServerAddress } from 'smtp-server';
import { HOST } from './ports.ts';

export interface ReceivedMessage {
  /** Sequence number in this sink, 1-based, stable across restarts of the sink. */
  seq: number;
  mailFrom: string;
  rcptTo: string[];
  receivedAt: string;
  raw: Buffer;
}

/** What the sink answers to the DATA of the next messages. */
export type SinkReply = { kind: 'accept'; delayMs?: number } | { kind: 'reject'; code: number; message: string };

function smtpError(code: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode: code });
}

export class SmtpSink {
  readonly messages: ReceivedMessage[] = [];
  /** Replies consumed one per DATA; when empty, `defaultReply` answers. */
  readonly replyQueue: SinkReply[] = [];
  defaultReply: SinkReply = { kind: 'accept' };
  /** Refuses these recipients at RCPT TO (e.g. with 550), like a server with no such mailbox. */
  rejectRecipient: ((address: string) => { code: number; message: string } | undefined) | undefined;
  /**
   * Runs after a message is stored and before the 250 reply: the server has
   * the message, the client does not know yet. Tests inject faults here.
   */
  afterStore: ((message: ReceivedMessage) => Promise<void> | void) | undefined;
  private server: SMTPServer | undefined;
  private readonly closedSessions = new Set<string>();
  /** Messages fully received whose reply has not been sent yet (in flight at the server). */
  pending = 0;
  /** SMTP connections opened, transactions begun (MAIL FROM) and every RCPT TO address asked for, accepted or not. */
  readonly counts = { connections: 0, transactions: 0, rcptTo: [] as string[] };
  private seq = 0;

  private constructor(
    readonly dir: string,
    public port: number,
  ) {}

  static async start({ dir, port = 0 }: { dir: string; port?: number }): Promise<SmtpSink> {
    await mkdir(dir, { recursive: true });
    const sink = new SmtpSink(dir, port);
    // Continue numbering after what an earlier run of the sink stored.
    const names = await readdir(dir);
    sink.seq = names.filter((n) => n.endsWith('.eml')).length;
    await sink.listen();
    return sink;
  }

  get url(): string {
    return `smtp://${HOST}:${this.port}`;
  }

  /** Starts listening again after `close()`, on the same port. */
  async listen(): Promise<void> {
    if (this.server) return;
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      disableReverseLookup: true,
      logger: false,
      onConnect: (_session, callback) => {
        this.counts.connections++;
        callback();
      },
      onMailFrom: (_address, _session, callback) => {
        this.counts.transactions++;
        callback();
      },
      onRcptTo: (address, _session, callback) => {
        this.counts.rcptTo.push(address.address.toLowerCase());
        const refusal = this.rejectRecipient?.(address.address);
        callback(refusal ? smtpError(refusal.code, refusal.message) : undefined);
      },
      onClose: (session) => {
        this.closedSessions.add(session.id);
      },
      size: 50 * 1024 * 1024,
      // close() cuts open sessions after this instead of waiting 30 s for
      // clients to hang up: a sink that goes down goes down now.
      closeTimeout: 200,
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('error', callback);
        stream.on('end', () => {
          const reply = this.replyQueue.shift() ?? this.defaultReply;
          this.pending++;
          const done = callback;
          callback = (...args: Parameters<typeof callback>) => {
            this.pending--;
            done(...args);
          };
          if (reply.kind === 'reject') {
            callback(smtpError(reply.code, reply.message));
            return;
          }
          const finish = () => {
            // Like a real server, a transaction whose client hung up before the
            // end of a slow reply is not delivered.
            if (this.closedSessions.has(session.id)) return callback(new Error('client went away'));
            this.store(session.envelope.mailFrom, session.envelope.rcptTo, Buffer.concat(chunks))
              .then(async (msg) => {
                await this.afterStore?.(msg);
                callback(null, `queued as ${msg.seq}`);
              })
              .catch((err: Error) => callback(err));
          };
          if (reply.delayMs) setTimeout(finish, reply.delayMs);
          else finish();
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, HOST, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.server.address();
    if (typeof address === 'object' && address) this.port = address.port;
    // Errors after start (a client dropping mid-session) must not crash the host process.
    server.on('error', () => {});
    this.server = server;
  }

  /** Stops accepting connections; open sessions are cut. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async store(from: SMTPServerAddress | false, to: SMTPServerAddress[], raw: Buffer): Promise<ReceivedMessage> {
    const seq = ++this.seq;
    const message: ReceivedMessage = {
      seq,
      mailFrom: from ? from.address : '',
      rcptTo: to.map((r) => r.address),
      receivedAt: new Date().toISOString(),
      raw,
    };
    const base = path.join(this.dir, String(seq).padStart(6, '0'));
    await writeFile(`${base}.eml`, raw);
    const { raw: _raw, ...envelope } = message;
    await writeFile(`${base}.json`, JSON.stringify(envelope, null, 2));
    this.messages.push(message);
    return message;
  }
}

/** Reads every message a sink stored in `dir`, oldest first (works across processes). */
export async function readMailbox(dir: string): Promise<ReceivedMessage[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const out: ReceivedMessage[] = [];
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    const envelope = JSON.parse(await readFile(path.join(dir, name), 'utf8')) as Omit<ReceivedMessage, 'raw'>;
    const raw = await readFile(path.join(dir, name.replace(/\.json$/, '.eml')));
    out.push({ ...envelope, raw });
  }
  return out;
}
