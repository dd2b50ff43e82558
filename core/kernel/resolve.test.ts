import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { PACKAGE_ROOT } from '../version.js';
import { resolvePlugin } from './resolve.js';

const fixtures = join(PACKAGE_ROOT, 'conformance', 'fixtures');

t.test('a built-in name resolves to the shipped plugin', async (t) => {
  const plugin = await resolvePlugin({ kind: 'balancer', key: 'scheduler.algorithm', specifier: 'least_connections', baseDir: '/' });
  t.equal(plugin.module.meta.name, 'least_connections');
  t.equal(plugin.builtin, true);
});

t.test('a file path resolves relative to the base dir', async (t) => {
  const plugin = await resolvePlugin({ kind: 'balancer', key: 'scheduler.algorithm', specifier: './prefer-local-balancer.js', baseDir: fixtures });
  t.equal(plugin.module.meta.name, 'prefer-local');
  t.equal(plugin.builtin, false);
});

t.test('an installed package resolves by name, ESM-only packages included', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'od-pkg-'));
  const pkg = join(root, 'node_modules', 'od-balancer-first');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'od-balancer-first', type: 'module', exports: { '.': { import: './main.js' } } }));
  writeFileSync(
    join(pkg, 'main.js'),
    "export const meta = { name: 'first', kind: 'balancer', provides: ['balancer'], requires: [] };\nexport default () => () => ({ name: 'first', pickNode: (r, c) => c[0] });\n",
  );
  const plugin = await resolvePlugin({ kind: 'balancer', key: 'scheduler.algorithm', specifier: 'od-balancer-first', baseDir: root });
  t.equal(plugin.module.meta.name, 'first');
});

t.test('an unknown name names the key and what is allowed', async (t) => {
  await t.rejects(resolvePlugin({ kind: 'balancer', key: 'scheduler.algorithm', specifier: 'fastest', baseDir: tmpdir() }), {
    code: 'OD_ERR_PLUGIN_NOT_FOUND',
    message: /config scheduler\.algorithm = "fastest": unknown balancer plugin; must be one of round_robin, least_connections, random, .*a file path/,
  });
  await t.rejects(resolvePlugin({ kind: 'engine', key: 'engine.name', specifier: './missing.js', baseDir: tmpdir() }), { message: /no file at/ });
});

t.test('a module of the wrong shape or kind is refused with the reason', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'od-bad-'));
  writeFileSync(join(dir, 'no-meta.mjs'), 'export default () => () => ({});\n');
  writeFileSync(join(dir, 'engine.mjs'), "export const meta = { name: 'e', kind: 'engine', provides: [], requires: [] };\nexport default () => () => ({});\n");
  writeFileSync(join(dir, 'throws.mjs'), "throw new Error('syntax of doom');\n");
  await t.rejects(resolvePlugin({ kind: 'balancer', key: 'scheduler.algorithm', specifier: './no-meta.mjs', baseDir: dir }), { code: 'OD_ERR_PLUGIN_INVALID', message: /exports no meta/ });
  await t.rejects(resolvePlugin({ kind: 'balancer', key: 'scheduler.algorithm', specifier: './engine.mjs', baseDir: dir }), { message: /its meta.kind is 'engine', expected 'balancer'/ });
  await t.rejects(resolvePlugin({ kind: 'balancer', key: 'scheduler.algorithm', specifier: './throws.mjs', baseDir: dir }), { message: /failed to load: syntax of doom/ });
});
