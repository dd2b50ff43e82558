// A worker thread that asks GET /api/version on a fresh connection every few milliseconds, each time
// with a twin probe to an idle control server, so a busy machine's delay is told from the node's own.

import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';

export interface ProbeSettings {
  url: string;
  /** An HTTP server in a process of its own that does nothing else: the machine's baseline. */
  controlUrl: string;
  intervalMs: number;
  /** Probes in flight at once; a frozen node must not make the watcher pile up sockets. */
  maxOutstanding: number;
}

export interface ProbeReport {
  /** Milliseconds from sending to the answer's last byte; an unanswered probe counts its age. */
  latencies: number[];
  /** For each probe, its latency less its twin's to the control server. */
  excess: number[];
  failures: string[];
  unanswered: number;
}

interface Probe {
  started: number;
  settled: boolean;
  /** Latency, once settled. */
  ms: number;
  failure?: string;
  destroy(): void;
}

const { url, controlUrl, intervalMs, maxOutstanding } = workerData as ProbeSettings;
const report: ProbeReport = { latencies: [], excess: [], failures: [], unanswered: 0 };
const pairs = new Set<[Probe, Probe]>();

function probe(target: URL, done: () => void): Probe {
  const req = request(target, { agent: false });
  const result: Probe = { started: performance.now(), settled: false, ms: 0, destroy: () => req.destroy() };
  const settle = (failure?: string) => {
    if (result.settled) return;
    Object.assign(result, { settled: true, ms: performance.now() - result.started, ...(failure ? { failure } : {}) });
    done();
  };
  req.once('error', (error) => settle(error.message));
  req.once('response', (response) => {
    response.resume();
    response.once('error', (error) => settle(error.message));
    response.once('end', () => settle(response.statusCode === 200 ? undefined : `status ${response.statusCode}`));
  });
  req.end();
  return result;
}

function record([node, control]: [Probe, Probe]): void {
  report.latencies.push(node.ms);
  report.excess.push(node.ms - control.ms);
  if (node.failure) report.failures.push(node.failure);
}

function pair(): void {
  const finished = () => {
    if (!entry[0].settled || !entry[1].settled || !pairs.delete(entry)) return;
    record(entry);
    if (report.latencies.length === 1) parentPort!.postMessage('ready');
  };
  const entry: [Probe, Probe] = [probe(new URL('/api/version', url), finished), probe(new URL('/', controlUrl), finished)];
  pairs.add(entry);
}

const timer = setInterval(() => {
  if (pairs.size < maxOutstanding) pair();
}, intervalMs);
pair();

parentPort!.once('message', () => {
  clearInterval(timer);
  const now = performance.now();
  // A frozen node leaves probes unanswered: each counts at its age, against its twin's time.
  for (const entry of pairs) {
    if (!entry[0].settled) report.unanswered += 1;
    for (const probe of entry.filter((probe) => !probe.settled)) {
      Object.assign(probe, { settled: true, ms: now - probe.started });
      probe.destroy();
    }
    record(entry);
  }
  pairs.clear();
  parentPort!.postMessage(report);
});
