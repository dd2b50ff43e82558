// What the etcd backend's tests share: a list state machine whose state shows the order commands
// were applied in, members built on a fixture's etcd and stopped on teardown, and waits on conditions.

import type { Command, StateMachine } from '../../core/contracts/consensus.js';
import { silentLogger } from '../../core/log.js';
import { EtcdConsensus } from './consensus.js';
import type { EtcdConsensusOptions } from './options.js';

/** The state is every payload applied, in order; the result is the new length. */
export const listMachine: StateMachine<string[]> = {
  initial: () => [],
  apply: (state: string[], command: Command) => {
    const next = [...state, String(command.payload)];
    return { state: next, result: next.length };
  },
  snapshot: (state) => new TextEncoder().encode(JSON.stringify(state)),
  restore: (bytes) => JSON.parse(new TextDecoder().decode(bytes)) as string[],
};

export interface TestLike {
  teardown(fn: () => unknown): void;
}

let prefixes = 0;
/** A prefix of its own per test, so tests sharing an etcd never see each other's keys. */
export function freshPrefix(): string {
  prefixes++;
  return `/od-test/${process.pid}-${Date.now()}-${prefixes}`;
}

export async function startMember(
  t: TestLike,
  options: Partial<EtcdConsensusOptions<string[]>> & { endpoints: readonly string[]; prefix: string; nodeId: string },
): Promise<EtcdConsensus<string[]>> {
  const member = new EtcdConsensus<string[]>({ stateMachine: listMachine, logger: silentLogger(), ...options });
  t.teardown(() => member.stop());
  await member.start(AbortSignal.timeout(15_000));
  return member;
}

/** Resolves when `condition` holds, checking every 20 ms; fails naming `what` after `ms`. */
export async function eventually(what: string, condition: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
