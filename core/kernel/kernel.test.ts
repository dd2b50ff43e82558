import t from 'tap';
import { silentLogger } from '../log.js';
import { dependencyOrder, Kernel, type Unit } from './kernel.js';

function unit(name: string, provides: string[], requires: string[], instance: unknown = {}): Unit {
  return { name, kind: 'test', provides, requires, build: () => instance };
}

function recorder(log: string[], name: string, options: { failStart?: boolean } = {}) {
  return {
    start: async () => {
      if (options.failStart) throw new Error('disk on fire');
      log.push(`start ${name}`);
    },
    afterStart: () => void log.push(`after ${name}`),
    stop: async () => void log.push(`stop ${name}`),
  };
}

t.test('orders units after the providers of what they require', async (t) => {
  const order = dependencyOrder(
    [unit('api', ['api'], ['engine', 'storage']), unit('engine', ['engine'], ['storage', 'logger']), unit('storage', ['storage'], ['logger'])],
    ['logger'],
  );
  t.same(order.map((u) => u.name), ['storage', 'engine', 'api']);
});

t.test('dependency problems name the plugin', async (t) => {
  t.throws(() => dependencyOrder([unit('api', ['api'], ['engine'])], []), { code: 'OD_ERR_PLUGIN_DEPENDENCY', message: /plugin api requires 'engine'/ });
  t.throws(() => dependencyOrder([unit('a', ['a'], ['b']), unit('b', ['b'], ['a'])], []), { message: /dependency cycle: a -> b -> a/ });
  t.throws(() => dependencyOrder([unit('x', ['engine'], []), unit('y', ['engine'], [])], []), { message: /plugin y and plugin x both provide 'engine'/ });
});

t.test('a unit receives exactly the components it requires', async (t) => {
  const kernel = new Kernel(silentLogger(), { logger: silentLogger(), secret: 'not for you', nodeId: 'n1' });
  let seen: Record<string, unknown> = {};
  kernel.build([{ name: 'probe', kind: 'test', provides: ['probe'], requires: ['nodeId'], build: (c) => (seen = c) }]);
  t.same(Object.keys(seen), ['nodeId']);
  t.equal(seen.nodeId, 'n1');
  t.equal(kernel.get('probe'), seen, 'what it provides is resolvable by name');
});

t.test('starts in dependency order, wires after all started, stops in reverse, idempotently', async (t) => {
  const log: string[] = [];
  const kernel = new Kernel(silentLogger(), {});
  kernel.build([unit('api', ['api'], ['engine'], recorder(log, 'api')), unit('engine', ['engine'], [], recorder(log, 'engine'))]);
  await kernel.start();
  await kernel.start();
  t.same(log, ['start engine', 'start api', 'after engine', 'after api']);
  t.same(kernel.status().map((s) => s.state), ['running', 'running']);
  await kernel.stop();
  await kernel.stop();
  t.same(log.slice(4), ['stop api', 'stop engine']);
  t.same(kernel.status().map((s) => s.state), ['stopped', 'stopped']);
});

t.test('a failed start names the plugin and stops what had started', async (t) => {
  const log: string[] = [];
  const kernel = new Kernel(silentLogger(), {});
  kernel.build([unit('storage', ['storage'], [], recorder(log, 'storage')), unit('engine', ['engine'], ['storage'], recorder(log, 'engine', { failStart: true }))]);
  await t.rejects(kernel.start(), { code: 'OD_ERR_PLUGIN_START', message: /plugin engine \(test\) failed to start: disk on fire/ });
  t.same(log, ['start storage', 'stop engine', 'stop storage'], 'the failed plugin is stopped too, to release what it took');
});

t.test('a factory that throws names the plugin', async (t) => {
  const kernel = new Kernel(silentLogger(), {});
  t.throws(
    () => kernel.build([{ name: 'broken', kind: 'engine', provides: [], requires: [], build: () => { throw new Error('no GPU'); } }]),
    { message: /plugin broken \(engine\) failed to build: no GPU/ },
  );
});

t.test('stop without start does nothing', async (t) => {
  const log: string[] = [];
  const kernel = new Kernel(silentLogger(), {});
  kernel.build([unit('engine', ['engine'], [], recorder(log, 'engine'))]);
  await kernel.stop();
  t.same(log, []);
});
