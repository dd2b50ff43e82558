// `list`, `ps`, `cp` and `rm`: the node's models and loaded models as Ollama's CLI prints them,
// and copying or removing models by name.

import { call, callJson, ClientError } from './http.js';
import { humanBytes, humanTime, table } from './format.js';

interface ListedModel {
  name: string;
  digest: string;
  size: number;
  modified_at: string;
}

interface RunningModel {
  name: string;
  digest: string;
  size: number;
  size_vram: number;
  context_length?: number;
  expires_at: string;
}

const shortId = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);

export async function listCommand(prefix: string | undefined): Promise<void> {
  const { models } = await callJson<{ models: ListedModel[] }>('/api/tags');
  const rows = models
    .filter((m) => !prefix || m.name.toLowerCase().startsWith(prefix.toLowerCase()))
    .map((m) => [m.name, shortId(m.digest), humanBytes(m.size), humanTime(new Date(m.modified_at), 'Never')]);
  process.stdout.write(table([['NAME', 'ID', 'SIZE', 'MODIFIED'], ...rows]));
}

function processor(size: number, vram: number): string {
  if (vram === 0) return '100% CPU';
  if (vram === size) return '100% GPU';
  if (vram > size || size === 0) return 'Unknown';
  const cpu = Math.round(((size - vram) / size) * 100);
  return `${cpu}%/${100 - cpu}% CPU/GPU`;
}

export async function psCommand(prefix: string | undefined): Promise<void> {
  const { models } = await callJson<{ models: RunningModel[] }>('/api/ps');
  const now = Date.now();
  const rows = models
    .filter((m) => !prefix || m.name.startsWith(prefix))
    .map((m) => {
      const expires = new Date(m.expires_at);
      const until = expires.getTime() < now ? 'Stopping...' : humanTime(expires, 'Never', now);
      return [m.name, shortId(m.digest), humanBytes(m.size), processor(m.size, m.size_vram), String(m.context_length ?? ''), until];
    });
  process.stdout.write(table([['NAME', 'ID', 'SIZE', 'PROCESSOR', 'CONTEXT', 'UNTIL'], ...rows]));
}

export async function copyCommand(source: string, destination: string): Promise<void> {
  await call('/api/copy', { body: { source, destination } });
  process.stdout.write(`copied '${source}' to '${destination}'\n`);
}

/** Unloads each model first (keep_alive 0), as Ollama does, so its memory goes with it. */
export async function removeCommand(names: string[]): Promise<void> {
  for (const name of names) {
    try {
      await (await call('/api/generate', { body: { model: name, keep_alive: 0, stream: false } })).arrayBuffer();
    } catch (error) {
      if (!(error instanceof ClientError) || error.status !== 404) {
        throw new ClientError(`unable to stop existing running model "${name}": ${(error as Error).message}`);
      }
    }
    await call('/api/delete', { method: 'DELETE', body: { model: name } });
    process.stdout.write(`deleted '${name}'\n`);
  }
}
