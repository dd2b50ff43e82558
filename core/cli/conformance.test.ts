// `conformance balancer` as users run it: the built CLI against every built-in balancer, a
// TypeScript plugin file, an AssemblyScript one built here, and files that break the contract.

import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { PACKAGE_ROOT } from '../version.js';

const CLI = join(PACKAGE_ROOT, 'dist', 'core', 'cli', 'main.js');
if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OLLAMA_') && !k.startsWith('TAP')));

function conformance(args: string[], cwd = PACKAGE_ROOT) {
  return spawnSync(process.execPath, [CLI, 'conformance', 'balancer', ...args], { env: ENV, cwd, encoding: 'utf8', timeout: 120_000 });
}

/** The suite passed; its output is shown only when it did not. */
function passed(t: Test, run: SpawnSyncReturns<string>, what: string): void {
  if (run.status !== 0) t.comment(run.stdout.slice(-4000) + run.stderr);
  t.equal(run.status, 0, `${what}: the suite passes`);
  t.match(run.stdout, /# \{ total: \d+, pass: \d+/, 'having run its checks');
}

for (const plugin of ['round_robin', 'least_connections', 'random', 'adaptive', 'affinity']) {
  t.test(`the built-in ${plugin} passes`, async (t) => {
    passed(t, conformance(['--plugin', plugin]), plugin);
  });
}

t.test('a TypeScript balancer file passes, with its options', async (t) => {
  passed(t, conformance(['--plugin', './dist/examples/balancers/most-free-slots.js', '--options', '{"local_bonus":1}']), 'most-free-slots.js');
});

t.test('a balancer scoring in AssemblyScript passes once built', async (t) => {
  const dir = t.testdir({});
  const example = join(PACKAGE_ROOT, 'examples', 'balancers', 'assemblyscript');
  copyFileSync(join(example, 'balancer.js'), join(dir, 'balancer.js'));
  const asc = spawnSync(join(PACKAGE_ROOT, 'node_modules', '.bin', 'asc'), [join(example, 'assembly', 'score.ts'), '--outFile', join(dir, 'score.wasm'), '--optimizeLevel', '3', '--runtime', 'stub'], { encoding: 'utf8' });
  t.equal(asc.status, 0, `asc builds score.wasm ${asc.stderr}`);
  passed(t, conformance(['--plugin', './balancer.js'], dir), 'balancer.js');
});

t.test('files that break the contract fail the suite, naming what broke', async (t) => {
  const dir = t.testdir({
    'copies.mjs': `export const meta = { name: 'copies', kind: 'balancer', provides: ['balancer'], requires: [] };
export default () => () => ({ name: 'copies', pickNode: (_r, list) => (list.length ? { ...list[0] } : undefined) });`,
    'stalls.mjs': `export const meta = { name: 'stalls', kind: 'balancer', provides: ['balancer'], requires: [] };
export default () => () => ({ name: 'stalls', pickNode: async (_r, list) => list[0] });`,
  });
  const copies = conformance(['--plugin', './copies.mjs'], dir);
  t.equal(copies.status, 1, 'a pick that is a copy fails');
  t.match(copies.stdout, /not ok \d+ - pick 0 is a given candidate/);
  const stalls = conformance(['--plugin', './stalls.mjs'], dir);
  t.equal(stalls.status, 1, 'an async pickNode fails');
  t.match(stalls.stdout, /not ok \d+ - pickNode is not an async function/);
});

t.test('a missing plugin and bad options are refused', async (t) => {
  const missing = conformance(['--plugin', './no-such-balancer.mjs'], t.testdir({}));
  t.not(missing.status, 0);
  t.match(missing.stdout + missing.stderr, /no-such-balancer\.mjs/);
  const bad = conformance(['--plugin', 'round_robin', '--options', '[1]']);
  t.equal(bad.status, 2);
  t.match(bad.stderr, /--options \[1\]: must be a JSON object/);
});
