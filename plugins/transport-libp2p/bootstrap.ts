// Keeps this node connected to its bootstrap peers: dials each address (with or without a
// /p2p/<id> part) in the background, retries with capped exponential backoff, redials on loss.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Libp2p, PeerId } from '@libp2p/interface';
import type { Logger } from 'pino';
import { JoinRefused, type Admission } from './admission.js';
import { dialTarget } from './dial-target.js';

export const FIRST_RETRY_MS = 1000;
export const LONGEST_RETRY_MS = 30_000;

/** Wait before the next dial after `failures` failures in a row (1 s, 2 s, 4 s ... 30 s). */
export function retryDelay(failures: number): number {
  return Math.min(LONGEST_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, failures - 1));
}

export interface BootstrapOptions {
  addresses: readonly string[];
  dialTimeoutMs: number;
  admission: Admission;
  logger: Logger;
}

export class Bootstrap {
  private readonly stopping = new AbortController();
  private running: Promise<void>[] = [];

  constructor(
    private readonly libp2p: Libp2p,
    private readonly options: BootstrapOptions,
  ) {}

  /** Returns at once: a peer that is down never holds up the start. */
  start(): void {
    this.running = this.options.addresses.map((address) => this.keep(address));
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.all(this.running);
  }

  private async keep(address: string): Promise<void> {
    const { logger, admission, dialTimeoutMs } = this.options;
    const stop = this.stopping.signal;
    let failures = 0;
    while (!stop.aborted) {
      let wait: number;
      try {
        const connection = await this.libp2p.dial(dialTarget(address), { signal: AbortSignal.any([stop, AbortSignal.timeout(dialTimeoutMs)]) });
        if (connection.remotePeer.equals(this.libp2p.peerId)) {
          logger.info({ address }, 'bootstrap address is this node itself; not dialing it again');
          return;
        }
        await admission.admission(connection);
        logger.info({ address, peer: connection.remotePeer.toString() }, 'joined the cluster through bootstrap peer');
        failures = 0;
        await this.disconnected(connection.remotePeer, stop);
        if (stop.aborted) return;
        logger.warn({ address, peer: connection.remotePeer.toString() }, 'lost the bootstrap peer; dialing it again');
        wait = FIRST_RETRY_MS;
      } catch (error) {
        if (stop.aborted) return;
        failures += 1;
        wait = retryDelay(failures);
        const fields = { address, err: (error as Error).message, retry_in_ms: wait };
        if (error instanceof JoinRefused) logger.warn(fields, 'the bootstrap peer refused this node; retrying in the background');
        else if (failures === 1) logger.warn(fields, 'bootstrap peer not reachable yet; retrying in the background');
        else logger.debug(fields, 'bootstrap peer still not reachable');
      }
      await sleep(wait, undefined, { signal: stop }).catch(() => undefined);
    }
  }

  /** Resolves when the peer's last connection closes, or on stop. */
  private disconnected(peer: PeerId, stop: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.libp2p.removeEventListener('peer:disconnect', onDisconnect);
        stop.removeEventListener('abort', done);
        resolve();
      };
      const onDisconnect = (event: CustomEvent<PeerId>) => {
        if (event.detail.equals(peer)) done();
      };
      this.libp2p.addEventListener('peer:disconnect', onDisconnect);
      stop.addEventListener('abort', done, { once: true });
      if (this.libp2p.getConnections(peer).length === 0) done();
    });
  }
}
