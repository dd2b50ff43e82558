import t from 'tap';
import type { Command } from '../contracts/consensus.js';
import { clusterStateMachine as machine, type ClusterState } from './state-machine.js';

const DIGEST = 'sha256:' + 'a'.repeat(64);

function run(commands: Command[]) {
  let state = machine.initial();
  const results: unknown[] = [];
  commands.forEach((command, i) => {
    const applied = machine.apply(state, command, i + 1);
    state = applied.state;
    results.push(applied.result);
  });
  return { state, results };
}

const admit = (id: string): Command => ({ type: 'member.admit', payload: { id, name: `node-${id}` } });
const model = (name: string, replicas = 2): Command => ({ type: 'model.set', payload: { name, digest: DIGEST, replicas } });

t.test('members, models, placements and replicas', async (t) => {
  const { state, results } = run([
    admit('a'),
    admit('b'),
    model('llama3:8b'),
    { type: 'placement.set', payload: { model: 'llama3:8b', nodes: ['b', 'a', 'b'] } },
    { type: 'replica.report', payload: { model: 'llama3:8b', node: 'a', digest: DIGEST, present: true } },
    { type: 'replica.report', payload: { model: 'llama3:8b', node: 'b', digest: DIGEST, present: true } },
    { type: 'member.remove', payload: { id: 'b' } },
    admit('a'),
    admit('b'),
    { type: 'member.remove', payload: { id: 'b' } },
  ]);
  t.same(results.slice(0, 8), Array(8).fill({ ok: true }));
  t.match(results[8], { error: /node b was removed from the cluster; start it on a new data dir/ }, 'a removed node is never admitted again');
  t.match(results[9], { error: /removed already/ });
  t.same(state.removed, { b: 7 });
  t.same(Object.keys(state.members), ['a']);
  t.equal(state.members.a!.admittedAt, 1, 'admitting again keeps the first admission');
  t.same(state.placements['llama3:8b'], ['a'], 'a removed node leaves the placements');
  t.same(state.replicas['llama3:8b'], ['a'], 'and the replicas');
});

t.test('commands that do not hold are refused with a reason and change nothing', async (t) => {
  const cases: [string, Command, RegExp][] = [
    ['unknown type', { type: 'member.promote', payload: {} }, /unknown cluster command/],
    ['prototype key as type', { type: 'constructor', payload: {} }, /unknown cluster command/],
    ['payload not an object', { type: 'member.admit', payload: 'a' }, /payload must be an object/],
    ['missing id', { type: 'member.admit', payload: { name: 'x' } }, /id must be a non-empty string/],
    ['huge name', { type: 'member.admit', payload: { id: 'x', name: 'n'.repeat(513) } }, /name must be/],
    ['negative replicas', { type: 'model.set', payload: { name: 'm', digest: DIGEST, replicas: -1 } }, /replicas must be an integer/],
    ['placement of an unknown model', { type: 'placement.set', payload: { model: 'nope', nodes: ['a'] } }, /model 'nope' not found/],
    ['placement on a stranger', { type: 'placement.set', payload: { model: 'm', nodes: ['a', 'z'] } }, /node z is not a member/],
    ['replica of another digest', { type: 'replica.report', payload: { model: 'm', node: 'a', digest: 'sha256:' + 'b'.repeat(64), present: true } }, /another digest/],
    ['replica from a stranger', { type: 'replica.report', payload: { model: 'm', node: 'z', digest: DIGEST, present: true } }, /not a member/],
    ['key with a bad hash', { type: 'key.create', payload: { id: 'k', hash: 'secret', role: 'user', name: 'ci', createdAt: 'now' } }, /hex sha256/],
    ['revoking an unknown key', { type: 'key.revoke', payload: { id: 'k' } }, /key k not found/],
  ];
  for (const [rule, command, message] of cases) {
    const before = run([admit('a'), model('m')]);
    const snapshot = Buffer.from(machine.snapshot(before.state)).toString();
    const { result, state } = machine.apply(before.state, command, 3);
    t.match((result as { error?: string }).error, message, rule);
    t.equal(Buffer.from(machine.snapshot(state)).toString(), snapshot, `${rule}: state unchanged`);
  }
});

t.test('a model registered by the cluster keeps the replicas asked for and follows a new digest', async (t) => {
  const register = (digest: string, replicas = 1): Command => ({ type: 'model.register', payload: { name: 'm', digest, replicas } });
  const other = 'sha256:' + 'b'.repeat(64);
  const { state, results } = run([
    admit('a'),
    register(DIGEST),
    model('m', 3),
    register(DIGEST),
    { type: 'replica.report', payload: { model: 'm', node: 'a', digest: DIGEST, present: true } },
    register(other, 5),
  ]);
  t.same(results, Array(6).fill({ ok: true }));
  t.same(state.models.m, { name: 'm', digest: other, replicas: 3 }, 'registering never overwrites the replicas set');
  t.equal(state.replicas.m, undefined, 'copies of the old digest are not copies of the new one');
  t.same(run([register(DIGEST, 2)]).state.models.m, { name: 'm', digest: DIGEST, replicas: 2 }, 'an unknown model is created with the replicas given');
});

t.test('API keys are created once and revoked', async (t) => {
  const hash = 'c'.repeat(64);
  const key = { type: 'key.create', payload: { id: 'k1', hash, role: 'user', name: 'ci', createdAt: '2026-01-01T00:00:00Z' } };
  const { state, results } = run([key, key, { type: 'key.revoke', payload: { id: 'k1' } }]);
  t.same(results[0], { ok: true });
  t.match(results[1], { error: /exists/ });
  t.equal(state.apiKeys.k1!.revoked, true);
  t.equal(state.apiKeys.k1!.hash, hash);
});

t.test('snapshots are canonical and restore the same state', async (t) => {
  const a = run([admit('a'), admit('b'), model('m')]).state;
  const b = run([model('m'), admit('b'), admit('a')]).state;
  b.members.a!.admittedAt = a.members.a!.admittedAt;
  b.members.b!.admittedAt = a.members.b!.admittedAt;
  t.equal(Buffer.from(machine.snapshot(a)).toString(), Buffer.from(machine.snapshot(b)).toString(), 'insertion order does not show');
  const restored: ClusterState = machine.restore(machine.snapshot(a));
  t.same(restored, a);
  t.throws(() => machine.restore(Buffer.from('[]')), /not an object/);
  t.throws(() => machine.restore(Buffer.from('{"members":{}}')), /lacks models/);
});
