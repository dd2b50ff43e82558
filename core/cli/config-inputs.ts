// Turns CLI options into config inputs and loads the config, exiting with status 2 and the
// problems listed when it is invalid.

import { ConfigError, loadConfig, type LoadedConfig } from '../config/load.js';
import { InsecureStartError } from '../security/exposure.js';
import { TlsConfigError } from '../security/tls-material.js';
import { ProductError } from '../errors.js';

export interface ConfigFlags {
  config?: string;
  listen?: string;
  p2pListen?: string;
  dataDir?: string;
  bootstrap?: string[];
  enableWeb?: boolean;
  logLevel?: string;
  nodeName?: string;
  consensusBind?: string;
  insecure?: boolean;
}

/** Exit status for configuration and usage errors, before anything is touched. */
export const EXIT_CONFIG = 2;

export function configFromFlags(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  return loadConfig({
    ...(flags.config ? { file: flags.config } : {}),
    env,
    flags: {
      listen: flags.listen,
      'p2p-listen': flags.p2pListen,
      'consensus-bind': flags.consensusBind,
      'data-dir': flags.dataDir,
      bootstrap: flags.bootstrap,
      'enable-web': flags.enableWeb,
      'log-level': flags.logLevel,
      'node-name': flags.nodeName,
      insecure: flags.insecure,
    },
  });
}

/** Prints a startup error the way a user can act on it and sets the exit status. */
export function reportFatal(error: unknown): void {
  if (error instanceof ConfigError) {
    process.stderr.write(`Error: invalid configuration\n${error.message.split('\n').map((l) => `  ${l}`).join('\n')}\n`);
    process.exitCode = EXIT_CONFIG;
  } else if (
    error instanceof InsecureStartError ||
    error instanceof TlsConfigError ||
    (error instanceof ProductError && ['OD_ERR_PLUGIN_NOT_FOUND', 'OD_ERR_PLUGIN_INVALID', 'OD_ERR_PLUGIN_DEPENDENCY'].includes(error.code))
  ) {
    process.stderr.write(`Error: ${error.message}\n`);
    process.exitCode = EXIT_CONFIG;
  } else {
    process.stderr.write(`Error: ${(error as Error).message ?? String(error)}\n`);
    process.exitCode = 1;
  }
}

/** The config, or undefined once the problem is reported and the exit status set. */
export function configOrReport(flags: ConfigFlags): LoadedConfig | undefined {
  try {
    return configFromFlags(flags);
  } catch (error) {
    reportFatal(error);
    return undefined;
  }
}
