// Progress of a pull or push in Ollama's shape ({status, digest, total, completed}), and a per-blob
// reporter that sends the first, the last and at most one update per interval in between.

export interface ProgressEvent {
  status: string;
  digest?: string;
  total?: number;
  completed?: number;
}

export type OnProgress = (event: ProgressEvent) => void;

/** Ollama refreshes a transfer's progress every 60 ms; clients redraw at that pace. */
export const PROGRESS_INTERVAL_MS = 60;

/** Ollama's per-blob status: the verb and the first 12 hex digits of the digest. */
export function blobStatus(verb: 'pulling' | 'pushing', digest: string): string {
  return `${verb} ${digest.slice('sha256:'.length, 'sha256:'.length + 12)}`;
}

export interface BlobProgress {
  /** Bytes done so far, counting bytes kept from an earlier attempt. */
  update(completed: number): void;
  done(): void;
}

export function blobProgress(onProgress: OnProgress, verb: 'pulling' | 'pushing', digest: string, total: number): BlobProgress {
  const status = blobStatus(verb, digest);
  let completed = 0;
  let sentAt = -Infinity;
  let sent = -1;
  const send = () => {
    sentAt = Date.now();
    sent = completed;
    onProgress({ status, digest, total, completed });
  };
  return {
    update(value) {
      completed = value;
      if (sent < 0 || Date.now() - sentAt >= PROGRESS_INTERVAL_MS) send();
    },
    done() {
      completed = total;
      if (sent !== total) send();
    },
  };
}

/** The JSON Ollama writes for an event: empty and zero fields are left out (Go's omitempty). */
export function progressJson(event: ProgressEvent): Record<string, string | number> {
  const json: Record<string, string | number> = { status: event.status };
  if (event.digest) json.digest = event.digest;
  if (event.total) json.total = event.total;
  if (event.completed) json.completed = event.completed;
  return json;
}
