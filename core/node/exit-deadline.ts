// Ends this process at a deadline from a worker thread: the main thread may be stuck in a native
// call or a long synchronous loop, where a timer of its own would never fire.

import { Worker } from 'node:worker_threads';

const WATCHDOG = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
setTimeout(() => {
  writeSync(2, workerData.message + '\\n');
  process.kill(process.pid, 'SIGKILL');
}, workerData.ms);
`;

/**
 * Kills this process (SIGKILL) `ms` from now unless it has exited by then, writing `message` to
 * stderr first. The worker does not keep the process alive.
 */
export function killAtDeadline(ms: number, message: string): void {
  new Worker(WATCHDOG, { eval: true, workerData: { ms, message } }).unref();
}
