// The running state of a Startable plugin: opened once however often start() is called, handed
// back once to close on stop(), and absent in between, so start and stop stay idempotent.

import { ProductError } from '../errors.js';

export class Lifecycle<Running> {
  private opening: Promise<Running> | undefined;
  private running: Running | undefined;

  constructor(private readonly owner: string) {}

  /** Opens the running state, or joins an open already under way; a failed open can be retried. */
  async start(open: () => Promise<Running>): Promise<Running> {
    this.opening ??= open();
    try {
      this.running = await this.opening;
      return this.running;
    } catch (error) {
      this.opening = undefined;
      throw error;
    }
  }

  /** The state to close, once; undefined when nothing started. Waits for a start under way. */
  async stop(): Promise<Running | undefined> {
    const running = await this.opening?.catch(() => undefined);
    this.opening = undefined;
    this.running = undefined;
    return running;
  }

  get current(): Running | undefined {
    return this.running;
  }

  /** The running state, or the error every call before start (or after stop) gets. */
  started(): Running {
    if (!this.running) throw new ProductError('OD_ERR_INTERNAL', `the ${this.owner} is not started`);
    return this.running;
  }
}
