import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import { referenceFactory } from './reference.js';
import { consensusSuite, type SuiteTest } from './suite.js';

consensusSuite(t, 'reference', referenceFactory(), { membership: true });

/**
 * Runs the suite's checks one after another, as tap does, without failing the real test: it
 * records each failed assertion (or thrown error) under its test's name.
 */
class Recorder {
  readonly failures: string[] = [];
  private queue: Promise<void> = Promise.resolve();

  open(path: string[], teardowns: (() => unknown)[]): SuiteTest {
    const record = (passed: boolean, message?: string) => {
      if (!passed) this.failures.push(`${path.join(' > ')}: ${message ?? 'assertion'}`);
      return passed;
    };
    const test = (name: string, extra: { skip?: string }, fn: (t: SuiteTest) => Promise<void>) => {
      if (extra.skip) return;
      this.queue = this.queue.then(async () => {
        const own: (() => unknown)[] = [];
        try {
          await fn(this.open([...path, name], own));
        } catch (err) {
          this.failures.push(`${[...path, name].join(' > ')}: threw ${(err as Error).message}`);
        } finally {
          for (const teardown of own.reverse()) await teardown();
        }
      });
    };
    return {
      test,
      pass: () => true,
      ok: (value: unknown, message?: string) => record(Boolean(value), message),
      equal: (found: unknown, wanted: unknown, message?: string) => record(found === wanted, message),
      same: (found: unknown, wanted: unknown, message?: string) => record(isDeepStrictEqual(found, wanted), message),
      comment: () => undefined,
      teardown: (fn: () => unknown) => teardowns.push(fn),
    } as SuiteTest;
  }

  /** Resolves once every queued check has finished. */
  async settled(): Promise<void> {
    let seen: Promise<void> | undefined;
    while (seen !== this.queue) {
      seen = this.queue;
      await seen;
    }
  }
}

t.test('the suite fails a backend whose reads serve stale local state', async (t) => {
  const recorder = new Recorder();
  consensusSuite(recorder.open([], []), 'stale', referenceFactory({ staleReads: true, followerLagMs: 20 }), { workloadMs: 1500 });
  await recorder.settled();
  t.comment(recorder.failures.join('\n'));
  t.ok(
    recorder.failures.some((f) => f === 'stale: reads are linearizable under a concurrent workload while members crash: the history is linearizable'),
    'the linearizability check fails',
  );
});
