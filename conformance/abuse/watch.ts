// What the abuse suite watches while an attack runs: /api/version latency from a worker thread,
// a node process's peak RSS from /proc, and the files around its data dir.

import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ProbeReport, ProbeSettings } from './probe-worker.js';

/** The probe worker beside this module: .ts when run from source, .js from dist. */
const PROBE_WORKER = new URL(`./probe-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

export interface LatencyWatch {
  stop(): Promise<ProbeReport>;
}

/** Starts probing; resolves once the first probe is answered, so the watch covers all that follows. */
export async function watchLatency(url: string, controlUrl: string, intervalMs = 20): Promise<LatencyWatch> {
  const settings: ProbeSettings = { url, controlUrl, intervalMs, maxOutstanding: 8 };
  const worker = new Worker(PROBE_WORKER, { workerData: settings });
  const message = <T>() => new Promise<T>((resolve, reject) => worker.once('message', resolve).once('error', reject));
  await message();
  const report = message<ProbeReport>();
  return {
    async stop() {
      worker.postMessage('stop');
      try {
        return await report;
      } finally {
        await worker.terminate();
      }
    },
  };
}

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : 0;
};

/** The slowest probe less its twin's time to the idle control server: what the node itself added. */
export const slowestExcess = (report: ProbeReport) => Math.max(0, ...report.excess);

export function describeLatency(report: ProbeReport): string {
  const { latencies, failures, unanswered } = report;
  const failed = failures.length ? `, ${failures.length} failed (${[...new Set(failures)].slice(0, 3).join('; ')})` : '';
  const ms = (value: number) => `${value.toFixed(1)} ms`;
  return `${latencies.length} probes, median ${ms(quantile(latencies, 0.5))}, max ${ms(quantile(latencies, 1))}, max over the control server ${ms(slowestExcess(report))}, ${unanswered} unanswered${failed}`;
}

function statusField(pid: number, field: string): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Peak resident memory of a process since the last reset (VmHWM), in bytes. */
export function peakRss(pid: number): number | undefined {
  return statusField(pid, 'VmHWM');
}

/** Starts a new peak: Linux sets VmHWM back to the current RSS when 5 is written to clear_refs. */
export function resetPeakRss(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // A process that is gone has no peak to reset; the liveness check reports it.
  }
}

/** Every path under `root` with its size, except the subtrees in `except`: what to compare. */
export function treeListing(root: string, except: readonly string[] = []): string[] {
  const listing: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (except.includes(path)) continue;
      const stat = statSync(path, { throwIfNoEntry: false });
      if (!stat) continue;
      listing.push(`${relative(root, path)}${stat.isDirectory() ? '/' : ` ${stat.size}`}`);
      if (stat.isDirectory()) walk(path);
    }
  };
  walk(root);
  return listing.sort();
}
