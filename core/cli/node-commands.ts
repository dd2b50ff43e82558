// Commands that run or control a node on this machine: start, stop, status, config print.

import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { configValue } from '../config/load.js';
import { OllamaDistributedNode, stopDeadlineMs } from '../node/node.js';
import { resolveNodePlugins } from '../node/plugins.js';
import { runningNode } from '../node/data-dir.js';
import { killAtDeadline } from '../node/exit-deadline.js';
import { API_ROUTES } from '../api/routes.js';
import { configFromFlags, configOrReport, reportFatal, type ConfigFlags } from './config-inputs.js';
import { trustingCa } from './client/trust.js';

export async function startCommand(flags: ConfigFlags): Promise<void> {
  let node: OllamaDistributedNode;
  try {
    const loaded = configFromFlags(flags);
    const plugins = await resolveNodePlugins(loaded);
    node = new OllamaDistributedNode({ loaded, plugins, routes: API_ROUTES });
  } catch (error) {
    return reportFatal(error);
  }
  const shutdown = (signal: NodeJS.Signals) => {
    // With no listener left, a second signal takes the default action: the kernel ends the
    // process at once, even while the event loop is blocked or a native call hangs. Listeners
    // that libraries added go too (signal-exit, through node-llama-cpp), or JS would still wait.
    process.removeAllListeners('SIGTERM');
    process.removeAllListeners('SIGINT');
    const deadline = stopDeadlineMs(node.config);
    node.logger.info({ signal }, 'stop requested; a second SIGTERM or SIGINT ends the process at once');
    killAtDeadline(deadline, `ollama-distributed: the node did not exit within ${deadline} ms of the stop request; killing it`);
    void node.stop().then((inTime) => {
      if (!inTime) process.exit(1);
    });
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  try {
    await node.start();
  } catch (error) {
    await node.stop();
    process.off('SIGTERM', shutdown);
    process.off('SIGINT', shutdown);
    return reportFatal(error);
  }
}

/** How long `stop` waits by default: the node's own deadline, and time to see it go. */
const STOP_WAIT_MARGIN_MS = 5000;

export async function stopCommand(flags: ConfigFlags & { timeout?: string }): Promise<void> {
  const loaded = configOrReport(flags);
  if (!loaded) return;
  const dataDir = loaded.config.storage.data_dir;
  const waitMs = flags.timeout === undefined ? stopDeadlineMs(loaded.config) + STOP_WAIT_MARGIN_MS : Number(flags.timeout) * 1000;
  if (!Number.isFinite(waitMs) || waitMs < 0) {
    process.stderr.write(`Error: --timeout must be a number of seconds, not ${JSON.stringify(flags.timeout)}\n`);
    process.exitCode = 2;
    return;
  }
  const holder = await runningNode(dataDir);
  if (holder === undefined) {
    process.stderr.write(`Error: no node is running on data dir ${dataDir}\n`);
    process.exitCode = 1;
    return;
  }
  const { pid } = holder;
  if (pid === undefined) {
    process.stderr.write(`Error: a process holds data dir ${dataDir} but neither answers nor left its pid file\n`);
    process.exitCode = 1;
    return;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + waitMs;
  while ((await runningNode(dataDir)) !== undefined && Date.now() < deadline) await sleep(100);
  if ((await runningNode(dataDir)) !== undefined) {
    process.stderr.write(`Error: node (pid ${pid}) has not exited after ${waitMs / 1000}s; run stop again to end it at once\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(`stopped node (pid ${pid})\n`);
}

export async function statusCommand(flags: ConfigFlags & { json?: boolean }): Promise<void> {
  const loaded = configOrReport(flags);
  if (!loaded) return;
  const { config } = loaded;
  const scheme = config.security.tls.enabled ? 'https' : 'http';
  const url = `${scheme}://${config.api.listen.replace(/^(0\.0\.0\.0|\[::\]|):/, '127.0.0.1:')}/api/v1/health`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5000), ...trustingCa(config.security.tls.ca_file) } as RequestInit);
    const health = (await response.json()) as { status: string; node_id: string; node_name: string; uptime_seconds: number; plugins: { name: string; kind: string; state: string }[] };
    if (flags.json) {
      process.stdout.write(JSON.stringify(health, null, 2) + '\n');
    } else {
      process.stdout.write(`node     ${health.node_name} (${health.node_id})\nstatus   ${health.status}\nuptime   ${health.uptime_seconds}s\nplugins\n`);
      for (const p of health.plugins) process.stdout.write(`  ${p.kind.padEnd(10)} ${p.name.padEnd(20)} ${p.state}\n`);
    }
    if (health.status !== 'healthy') process.exitCode = 1;
  } catch (error) {
    process.stderr.write(`Error: no node answers at ${url}: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}

export function configPrintCommand(flags: ConfigFlags & { json?: boolean }): void {
  const loaded = configOrReport(flags);
  if (!loaded) return;
  const rows = [...loaded.settings].map(([path, setting]) => {
    const value = configValue(loaded.config, path);
    const shown = setting.secret && value ? '<redacted>' : setting.format ? setting.format(value as never) : value;
    const { source, origin } = loaded.sources.get(path)!;
    return { path, value: shown, source, origin };
  });
  if (flags.json) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return;
  }
  for (const row of rows) {
    const value = stringify(row.value, { flow: true, lineWidth: 0 }).trim();
    const from = row.source === 'default' ? 'default' : `${row.source} ${row.origin}`;
    process.stdout.write(`${row.path} = ${value}    # ${from}\n`);
  }
}
