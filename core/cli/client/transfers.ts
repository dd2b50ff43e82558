// `transfers`: the model copies the node at OLLAMA_HOST makes from its peers, one progress bar
// each with bytes, speed, time left and holders; `--watch` redraws them until every copy ends.

import { MultiBar, type Options, type Params } from 'cli-progress';
import type { TransferEntry } from '../../distribution/transfers.js';
import { humanBytes } from './format.js';
import { callJson } from './http.js';
import { humanDuration } from './transfer-progress.js';

const POLL_MS = 1000;
const BAR_WIDTH = 30;

/** One copy's line: model, state, bar, bytes, speed, time left, holders. */
export function transferLine(entry: TransferEntry, width = BAR_WIDTH): string {
  const fraction = entry.total > 0 ? Math.min(1, entry.done / entry.total) : 1;
  const filled = Math.round(fraction * width);
  const bar = `▕${'█'.repeat(filled)}${' '.repeat(width - filled)}▏`;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const bytes = `${humanBytes(entry.done)}/${humanBytes(entry.total)}`;
  const from = entry.holders.length > 0 ? `  from ${entry.holders.join(', ')}` : '';
  if (entry.state !== 'copying') {
    const outcome = entry.state === 'failed' ? `failed: ${entry.error ?? 'unknown error'}` : 'done';
    return `${entry.model} ${percent} ${bar} ${bytes}  ${outcome}`;
  }
  const speed = entry.speed > 0 ? `${humanBytes(entry.speed)}/s` : '';
  const eta = entry.eta_seconds === null ? '' : humanDuration(entry.eta_seconds);
  return `${entry.model} ${percent} ${bar} ${bytes}  ${speed.padStart(9)} ${eta.padStart(6)}${from}`;
}

const transfers = async () => (await callJson<{ transfers: TransferEntry[] }>('/api/v1/transfers')).transfers;

export async function transfersCommand(flags: { json?: boolean; watch?: boolean }, out: NodeJS.WriteStream = process.stdout): Promise<void> {
  const entries = await transfers();
  if (flags.json) {
    out.write(`${JSON.stringify(entries, null, 2)}\n`);
    return;
  }
  if (!flags.watch || !out.isTTY) {
    out.write(entries.length === 0 ? 'no model copies on this node\n' : entries.map((entry) => `${transferLine(entry)}\n`).join(''));
    return;
  }
  await watch(entries, out);
}

/** Redraws a bar per copy each second until none is running. */
async function watch(first: TransferEntry[], out: NodeJS.WriteStream): Promise<void> {
  const format = (_options: Options, _params: Params, payload: { entry: TransferEntry }) => transferLine(payload.entry);
  const bars = new MultiBar({ stream: out, format, hideCursor: true, clearOnComplete: false, autopadding: false, linewrap: false, fps: 5 });
  const shown = new Map<string, ReturnType<MultiBar['create']>>();
  try {
    for (let entries = first; ; entries = await transfers()) {
      for (const entry of entries) {
        const key = `${entry.model} ${entry.started_at}`;
        const bar = shown.get(key) ?? bars.create(entry.total, entry.done, { entry });
        shown.set(key, bar);
        bar.update(entry.done, { entry });
      }
      if (!entries.some((entry) => entry.state === 'copying')) return;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } finally {
    bars.stop();
  }
}
