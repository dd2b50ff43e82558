// The audit log: who did what, when and from where, for admin actions and refused credentials,
// one JSON object a line in a file of its own (mode 0600). It holds no secret, header, body or
// prompt: only the caller's subject, the method, the path without its query, the status and the
// remote address. A log that cannot keep up drops entries and counts them rather than buffer
// without bound.

import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';

export interface AuditEntry {
  event: 'admin' | 'auth.refused';
  status: number;
  method: string;
  path: string;
  remote: string | undefined;
  /** Absent when the caller showed no valid credential. */
  subject?: string;
  via?: string;
  /** Why a credential was refused, in the words the caller got. */
  reason?: string;
}

/** Entries waiting for the disk past which new ones are dropped. */
const MAX_BACKLOG_BYTES = 4 * 1024 * 1024;

/** A path as logged: no query string, which may carry anything a client put there. */
export function auditPath(url: string): string {
  const at = url.indexOf('?');
  return (at < 0 ? url : url.slice(0, at)).slice(0, 512);
}

export class AuditLog {
  private stream: WriteStream | undefined;
  private dropped = 0;

  constructor(
    private readonly file: string,
    private readonly logger: Logger,
  ) {}

  async open(): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true });
    const stream = createWriteStream(this.file, { flags: 'a', mode: 0o600 });
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', (error) => reject(new Error(`security.audit_log ${this.file}: cannot open it (${(error as NodeJS.ErrnoException).code ?? error.message})`)));
    });
    stream.on('error', (error) => this.logger.error({ err: error, file: this.file }, 'audit log write failed'));
    this.stream = stream;
  }

  record(entry: AuditEntry, now = new Date()): void {
    const stream = this.stream;
    if (!stream || stream.destroyed) return;
    if (stream.writableLength > MAX_BACKLOG_BYTES) {
      if (this.dropped++ % 1000 === 0) this.logger.warn({ dropped: this.dropped }, 'audit log falling behind: entries dropped');
      return;
    }
    stream.write(`${JSON.stringify({ time: now.toISOString(), ...entry })}\n`);
  }

  async close(): Promise<void> {
    const stream = this.stream;
    this.stream = undefined;
    if (stream) await new Promise<void>((resolve) => stream.end(resolve));
  }
}
