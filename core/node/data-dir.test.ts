import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { LOCK_SOCKET, PID_FILE, lockDataDir, nodeIdOf, runningNode } from './data-dir.js';

const fresh = () => mkdtempSync(join(tmpdir(), 'od-dir-'));

t.test('the lock answers with its holder and refuses a second holder until released', async (t) => {
  const dir = fresh();
  const nodeId = nodeIdOf(dir);
  t.equal(nodeIdOf(dir), nodeId, 'the id is stable');
  t.equal(await runningNode(dir), undefined, 'nobody holds a fresh dir');
  const lock = await lockDataDir(dir, nodeId);
  t.same(await runningNode(dir), { pid: process.pid });
  t.equal(readFileSync(join(dir, PID_FILE), 'utf8'), `${process.pid}\n`);
  await t.rejects(lockDataDir(dir, nodeId), { code: 'OD_ERR_NODE_RUNNING', message: new RegExp(`a node \\(pid ${process.pid}\\) already runs on data dir`) });
  await lock.release();
  t.notOk(existsSync(join(dir, LOCK_SOCKET)), 'release removes the socket');
  t.notOk(existsSync(join(dir, PID_FILE)), 'and the pid file');
  t.equal(await runningNode(dir), undefined);
  const again = await lockDataDir(dir, nodeId);
  await again.release();
});

t.test('a lock left by a killed process is taken over; its pid file is not trusted', async (t) => {
  const dir = fresh();
  // A process that takes the lock the way a node does, then dies by SIGKILL, which leaves its files.
  const holder = spawn(
    process.execPath,
    ['--input-type=module', '-e', `import { createServer } from 'node:net'; createServer((s) => s.end(JSON.stringify({ pid: process.pid }))).listen(${JSON.stringify(join(dir, LOCK_SOCKET))}, () => console.log('held'));`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.teardown(() => void holder.kill('SIGKILL'));
  await new Promise((resolve) => holder.stdout!.once('data', resolve));
  t.same(await runningNode(dir), { pid: holder.pid }, 'a live holder says who it is');
  holder.kill('SIGKILL');
  await new Promise((resolve) => holder.once('exit', resolve));
  writeFileSync(join(dir, PID_FILE), `${process.ppid}\n`);
  t.ok(existsSync(join(dir, LOCK_SOCKET)), 'the dead holder left its socket file');
  t.equal(await runningNode(dir), undefined, 'a pid file naming a live process does not make a node');
  const lock = await lockDataDir(dir, nodeIdOf(dir));
  t.same(await runningNode(dir), { pid: process.pid });
  await lock.release();
});

t.test('a data dir whose socket path would be cut is refused, naming the key', async (t) => {
  const dir = join(fresh(), 'd'.repeat(100));
  await t.rejects(lockDataDir(dir, 'id'), { message: /storage\.data_dir .* is too long for its lock socket/ });
});
