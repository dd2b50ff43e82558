// The etcd backend against a real one-member etcd: log order, linearizable reads, the cluster id,
// leadership and its failover, membership through the log, and clear errors.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import t from 'tap';
import type { ConsensusEvent } from '../../core/contracts/consensus.js';
import { silentLogger } from '../../core/log.js';
import { etcdMissing, startEtcd, type EtcdCluster } from '../../conformance/fixtures/etcd.js';
import { EtcdConsensus } from './consensus.js';
import { eventually, freshPrefix, listMachine, startMember } from './testing.js';

const typescriptLoader = process.execArgv.find((arg) => arg.includes('@tapjs/typescript'));
const missing = etcdMissing(t);
let etcd: EtcdCluster | undefined;
if (!missing) etcd = await startEtcd(t);
const endpoints = () => etcd!.endpoints;

t.test('three members on one etcd apply every command in the same order', { skip: missing }, async (t) => {
  const prefix = freshPrefix();
  const members: EtcdConsensus<string[]>[] = [];
  for (const id of ['a', 'b', 'c']) members.push(await startMember(t, { endpoints: endpoints(), prefix, nodeId: id }));
  const seen: number[][] = members.map(() => []);
  members.forEach((member, i) =>
    member.watch((event) => {
      if (event.type === 'applied') seen[i]!.push(event.index);
    }),
  );
  const proposals = members.flatMap((member, i) => Array.from({ length: 10 }, (_, k) => member.propose({ type: 'add', payload: `${i}-${k}` })));
  const results = await Promise.all(proposals);
  const states = await Promise.all(members.map((m) => m.read()));
  t.equal(states[0]!.length, 30, 'all 30 commands applied');
  t.same(states[1], states[0], 'b applied the same commands in the same order as a');
  t.same(states[2], states[0], 'c too');
  const byIndex = [...results].sort((x, y) => x.index - y.index);
  t.same(
    byIndex.map((r) => r.result),
    byIndex.map((_, i) => i + 1),
    'each result is the state machine result at its index: indices order the log',
  );
  for (const [i, indices] of seen.entries()) {
    t.ok(indices.every((index, k) => k === 0 || index > indices[k - 1]!), `member ${i} saw applied indices in increasing order, each once`);
  }
  t.same(
    members[0]!.members().map((m) => m.id),
    ['a', 'b', 'c'],
    'every node joined as a member through the log',
  );
});

t.test('a read on one member reflects a write just made on another', { skip: missing }, async (t) => {
  const prefix = freshPrefix();
  const a = await startMember(t, { endpoints: endpoints(), prefix, nodeId: 'a' });
  const b = await startMember(t, { endpoints: endpoints(), prefix, nodeId: 'b' });
  for (let i = 0; i < 20; i++) {
    const { index } = await a.propose({ type: 'add', payload: `w${i}` });
    const state = await b.read();
    t.equal(state.at(-1), `w${i}`, `read after write ${i}`);
    t.ok(b.state().index >= index, 'b applied through the write');
  }
});

t.test('the cluster id is created once and is the same for every member and restart', { skip: missing }, async (t) => {
  const prefix = freshPrefix();
  const dataDir = mkdtempSync(join(tmpdir(), 'od-etcd-consensus-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const [a, b] = await Promise.all([
    startMember(t, { endpoints: endpoints(), prefix, nodeId: 'a', dataDir }),
    startMember(t, { endpoints: endpoints(), prefix, nodeId: 'b' }),
  ]);
  t.match(a.clusterId(), /^[0-9a-f-]{36}$/);
  t.equal(b.clusterId(), a.clusterId(), 'members starting at once agree on one id');
  await a.stop();
  const again = await startMember(t, { endpoints: endpoints(), prefix, nodeId: 'a', dataDir });
  t.equal(again.clusterId(), b.clusterId(), 'a restart keeps it');
  await again.stop();
  const elsewhere = new EtcdConsensus({ endpoints: endpoints(), prefix: freshPrefix(), nodeId: 'a', dataDir, stateMachine: listMachine, logger: silentLogger() });
  t.teardown(() => elsewhere.stop());
  await t.rejects(elsewhere.start(), { code: 'OD_ERR_CLUSTER_MISMATCH', ours: again.clusterId() }, 'a node pinned to one cluster refuses to join another');
});

t.test('one leader at a time; a revoked leader lease hands leadership on', { skip: missing }, async (t) => {
  const prefix = freshPrefix();
  const members: EtcdConsensus<string[]>[] = [];
  for (const id of ['a', 'b', 'c']) members.push(await startMember(t, { endpoints: endpoints(), prefix, nodeId: id }));
  await eventually('all members agree on a leader', () => members.every((m) => m.leader() && m.leader()!.id === members[0]!.leader()!.id));
  const first = members[0]!.leader()!;
  t.equal(first.id, 'a', 'the first to campaign leads');
  const leaderEvents: ConsensusEvent[] = [];
  members[1]!.watch((event) => {
    if (event.type === 'leader') leaderEvents.push(event);
  });

  const admin = new Etcd3({ hosts: endpoints() });
  t.teardown(() => admin.close());
  const keys = await admin.getAll().prefix(`${prefix}/election/leader/`).sort('Create', 'Ascend').exec();
  const leaderKey = keys.kvs[0]!;
  const started = performance.now();
  await admin.leaseClient.leaseRevoke({ ID: leaderKey.lease });
  await eventually('b sees a new leader', () => members[1]!.leader() !== undefined && members[1]!.leader()!.id !== 'a');
  const tookMs = performance.now() - started;
  t.comment(`leader lease revoked -> new leader seen in ${tookMs.toFixed(0)} ms`);
  const second = members[1]!.leader()!;
  t.ok(second.term > first.term, 'the new leader has a higher term');
  await eventually('a campaigns again and everyone agrees', () => members.every((m) => m.leader()?.id === second.id && m.leader()?.term === second.term));
  await eventually('a is back in the election', async () => (await admin.getAll().prefix(`${prefix}/election/leader/`).count()) === 3);
  t.ok(leaderEvents.some((e) => e.type === 'leader' && e.leader?.id === second.id), 'watchers saw the change');

  await t.rejects(members[0]!.transferLeadership(), { code: 'OD_ERR_NOT_LEADER' }, 'a follower has no leadership to transfer');
  const leader = members[['a', 'b', 'c'].indexOf(second.id)]!;
  await leader.transferLeadership(AbortSignal.timeout(10_000));
  const third = leader.leader()!;
  t.not(third.id, second.id, 'transferLeadership handed leadership to another voter');
  t.ok(third.term > second.term, 'in a later term');
  await eventually('every member sees the new leader', () => members.every((m) => m.leader()?.id === third.id));
});

t.test('a leader whose process dies is replaced within 5 s', { skip: missing || (typescriptLoader ? false : 'needs the tap TypeScript loader') }, async (t) => {
  const prefix = freshPrefix();
  const script = `
    const { EtcdConsensus } = await import(${JSON.stringify(new URL('./consensus.ts', import.meta.url).href)});
    const { listMachine } = await import(${JSON.stringify(new URL('./testing.ts', import.meta.url).href)});
    const { silentLogger } = await import(${JSON.stringify(new URL('../../core/log.ts', import.meta.url).href)});
    const c = new EtcdConsensus({ endpoints: JSON.parse(process.env.ENDPOINTS), prefix: process.env.PREFIX, nodeId: 'doomed', stateMachine: listMachine, logger: silentLogger() });
    await c.start();
    const check = () => { if (c.leader()?.id === 'doomed') { console.log('leader'); } };
    c.watch(check); check();
    if (process.env.MODE === 'stop') { await c.propose({ type: 'add', payload: 'x' }); await c.stop(); console.log('stopped'); }
  `;
  const child = execFile(process.execPath, [typescriptLoader!, '--input-type=module', '-e', script], {
    env: { ...process.env, ENDPOINTS: JSON.stringify(endpoints()), PREFIX: prefix, MODE: 'die' },
  });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  await eventually('the child leads', () => out.includes('leader'), 30_000).catch((error: Error) => {
    throw new Error(`${error.message}\n${out}`);
  });
  const b = await startMember(t, { endpoints: endpoints(), prefix, nodeId: 'b' });
  await eventually('b sees the child lead', () => b.leader()?.id === 'doomed');
  const started = performance.now();
  child.kill('SIGKILL');
  await eventually('b leads', () => b.leader()?.id === 'b', 10_000);
  const tookMs = performance.now() - started;
  t.comment(`leader SIGKILLed -> new leader seen in ${tookMs.toFixed(0)} ms (lease ttl 3 s)`);
  t.ok(tookMs < 5_000, `a new leader within 5 s (took ${tookMs.toFixed(0)} ms)`);

  const { stdout } = await promisify(execFile)(process.execPath, [typescriptLoader!, '--input-type=module', '-e', script], {
    env: { ...process.env, ENDPOINTS: JSON.stringify(endpoints()), PREFIX: prefix, MODE: 'stop' },
    timeout: 30_000,
  });
  t.match(stdout, /stopped/, 'after stop() nothing of the member keeps the process alive: it exited on its own');
});

t.test('membership changes go through the log; a non-voter does not campaign', { skip: missing }, async (t) => {
  const prefix = freshPrefix();
  const a = await startMember(t, { endpoints: endpoints(), prefix, nodeId: 'a' });
  const b = await startMember(t, { endpoints: endpoints(), prefix, nodeId: 'b' });
  await b.addMember({ id: 'x', address: '10.0.0.9:7000', voter: false });
  await a.read();
  t.same(a.members().find((m) => m.id === 'x'), { id: 'x', address: '10.0.0.9:7000', voter: false }, 'a sees the member b added');
  await a.removeMember('x');
  t.notOk((await b.read(), b.members().some((m) => m.id === 'x')), 'and b the removal');
  await eventually('a leads', () => b.leader()?.id === 'a');
  await a.addMember({ id: 'a', address: endpoints()[0]!, voter: false });
  await eventually('a, now a non-voter, resigned and b leads', () => b.leader()?.id === 'b' && a.leader()?.id === 'b');
  await t.rejects(a.addMember({ id: '', address: 'x', voter: true }), TypeError, 'a member without an id is refused');
});

t.test('bad endpoints: a config error names the key; an unreachable etcd fails start in bounded time', async (t) => {
  const build = (endpoints: string[], extra = {}) =>
    new EtcdConsensus({ endpoints, prefix: freshPrefix(), nodeId: 'a', stateMachine: listMachine, logger: silentLogger(), ...extra });
  t.throws(() => build(['127.0.0.1:2379']), /consensus\.etcd\.endpoints: "127\.0\.0\.1:2379" is not a URL/);
  t.throws(() => build([]), /consensus\.etcd\.endpoints: needs at least one/);
  t.throws(() => build(['http://127.0.0.1:1'], { leaseTtlSeconds: 0 }), /leaseTtlSeconds: must be an integer from 2/);
  t.throws(() => build(['http://127.0.0.1:1'], { prefix: 'no-slash' }), /prefix: "no-slash" must start with \//);

  const unreachable = build(['http://127.0.0.1:1'], { startTimeoutMs: 1_000, requestTimeoutMs: 300 });
  t.teardown(() => unreachable.stop());
  const started = performance.now();
  await t.rejects(unreachable.start(), { code: 'OD_ERR_PLUGIN_START', message: /consensus\.etcd\.endpoints: no etcd answered at http:\/\/127\.0\.0\.1:1 within 1000 ms/ });
  t.ok(performance.now() - started < 5_000, 'gave up near its deadline');
  await t.rejects(unreachable.propose({ type: 'add', payload: 1 }), /not running/, 'a member that failed to start refuses proposals');

  const aborted = build(['http://127.0.0.1:1'], { startTimeoutMs: 60_000 });
  t.teardown(() => aborted.stop());
  await t.rejects(aborted.start(AbortSignal.timeout(300)), { name: 'AbortError' }, 'start honours its signal');
  await aborted.stop();
  await aborted.stop();
  t.pass('stop after stop resolves');
  await build(['http://127.0.0.1:1']).stop();
  t.pass('stop without start resolves');
});
