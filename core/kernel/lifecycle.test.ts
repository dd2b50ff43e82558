import t from 'tap';
import { Lifecycle } from './lifecycle.js';

t.test('start opens once, stop hands the state back once', async (t) => {
  const lifecycle = new Lifecycle<{ id: number }>('test engine');
  let opened = 0;
  const open = async () => ({ id: ++opened });
  const [a, b] = await Promise.all([lifecycle.start(open), lifecycle.start(open)]);
  t.equal(opened, 1, 'concurrent starts share one open');
  t.equal(a, b);
  t.equal(lifecycle.started(), a);
  t.equal(await lifecycle.stop(), a);
  t.equal(await lifecycle.stop(), undefined, 'a second stop has nothing to close');
  t.throws(() => lifecycle.started(), { code: 'OD_ERR_INTERNAL', message: 'the test engine is not started' });
});

t.test('a failed open can be retried; stop without start closes nothing', async (t) => {
  const lifecycle = new Lifecycle<string>('test engine');
  t.equal(await lifecycle.stop(), undefined);
  await t.rejects(lifecycle.start(async () => Promise.reject(new Error('no GPU'))), { message: 'no GPU' });
  t.equal(lifecycle.current, undefined);
  t.equal(await lifecycle.start(async () => 'up'), 'up');
});

t.test('stop during a start waits for it and closes what it opened', async (t) => {
  const lifecycle = new Lifecycle<string>('test engine');
  let finish!: (value: string) => void;
  const starting = lifecycle.start(() => new Promise((resolve) => (finish = resolve)));
  const stopping = lifecycle.stop();
  finish('opened');
  t.equal(await starting, 'opened');
  t.equal(await stopping, 'opened');
  t.equal(lifecycle.current, undefined);
});
