// `mailer send --attach FILE`: the operator names files on their own machine
// and the service only ever sees the bytes. Deliberately, any regular file the
// operator can read may be attached (the CLI runs with the operator's rights,
// like `cp`), but nothing else: not a FIFO (which would block forever), a
// device (/dev/zero never ends) or a directory. A symlink is followed and the
// file actually read is reported. The size is checked before a byte is read,
// and no more than the limit is ever read, even from a file that grows.
import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_LIMITS } from '../email/validation.ts';
import { UsageError } from './errors.ts';

export interface AttachedFile {
  filename: string;
  content: Buffer;
  path: string;
}

const MiB = 1024 * 1024;

function kind(mode: number): string {
  const type = mode & constants.S_IFMT;
  return type === constants.S_IFIFO
    ? 'a FIFO'
    : type === constants.S_IFCHR
      ? 'a character device'
      : type === constants.S_IFBLK
        ? 'a block device'
        : type === constants.S_IFDIR
          ? 'a directory'
          : type === constants.S_IFSOCK
            ? 'a socket'
            : 'not a regular file';
}

export async function readAttachment(
  file: string,
  maxBytes = DEFAULT_LIMITS.attachmentMaxBytes,
): Promise<AttachedFile> {
  let resolved: string;
  try {
    resolved = await realpath(file);
  } catch (err) {
    throw new UsageError('--attach', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const named = resolved === path.resolve(file) ? file : `${file} (a link to ${resolved})`;
  const refuse = (reason: string) => new UsageError('--attach', `${named} ${reason}`);
  // Non-blocking, so that opening a FIFO returns at once instead of waiting for a writer.
  const handle = await open(resolved, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY).catch(
    (err: NodeJS.ErrnoException) => {
      throw refuse(`cannot be read: ${err.code ?? 'error'}`);
    },
  );
  try {
    // The stat of what was opened, not of the name: the file cannot be swapped in between.
    const info = await handle.stat();
    if (!info.isFile()) throw refuse(`is ${kind(info.mode)}; only regular files can be attached`);
    if (info.size > maxBytes)
      throw refuse(
        `is ${info.size} bytes, over the ${maxBytes % MiB ? `${maxBytes} bytes` : `${maxBytes / MiB} MiB`} attachment limit`,
      );
    // Read to the end rather than to the stated size (files in /proc state 0), but never past the limit.
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(64 * 1024, maxBytes + 1 - length));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (!bytesRead) break;
      chunks.push(chunk.subarray(0, bytesRead));
      length += bytesRead;
      if (length > maxBytes) throw refuse('grew past the attachment limit while it was read');
    }
    return { filename: path.basename(file), content: Buffer.concat(chunks, length), path: resolved };
  } finally {
    await handle.close();
  }
}
