// Crash safety, shown by killing a real process: a child re-creates, copies over and deletes
// models through the store and is SIGKILLed at every disk-changing call in turn (mid-write for
// writes); each time a fresh store must see each model whole, old or new, and recover.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import type { Manifest } from '../../core/models/manifest.js';
import { formatModelName, type ModelName } from '../../core/models/name.js';
import { silentLogger } from '../../core/log.js';
import { pruneStore } from './gc.js';
import { storePaths } from './paths.js';
import { BLOB_GRACE_MS, PendingBlobs } from './pending-blobs.js';
import { FsModelStore } from './store.js';
import { doTheWork, expected, names, writeBefore } from './testing/crash-scenario.js';
import type { FsStep } from './testing/fs-faults.js';

const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
// The child runs the built JavaScript: through the TypeScript loader each start takes seconds.
const CHILD = join(PACKAGE_ROOT, 'dist/plugins/storage-fs/testing/crash-child.js');
if (!existsSync(CHILD)) throw new Error(`${CHILD} is missing: run npm run build first`);

const BLOB_FILE = /^sha256-([0-9a-f]{64})$/;
const hexOf = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const blobFileOf = (digest: string) => digest.replace(':', '-');
const namedFiles = (...manifests: Manifest[]) =>
  [...new Set(manifests.flatMap((m) => [m.config, ...m.layers]).map((d) => blobFileOf(d.digest)))].sort();

interface ChildResult {
  signal: NodeJS.Signals | null;
  code: number | null;
  stdout: string;
  stderr: string;
}

function runChild(root: string, crashAt: number): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, root, String(crashAt)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const work = await mkdtemp(join(tmpdir(), 'od-storage-crash-'));
t.teardown(() => rm(work, { recursive: true, force: true }));
const pristine = join(work, 'before');
const prepared = new FsModelStore(pristine, silentLogger());
await prepared.start();
await writeBefore(prepared);
await prepared.stop();

let runs = 0;
async function freshCopy(): Promise<string> {
  const root = join(work, `run-${++runs}`);
  await cp(pristine, root, { recursive: true });
  return root;
}

const completed = await runChild(await freshCopy(), 0);
if (completed.code !== 0) throw new Error(`the uninterrupted child failed: ${completed.stderr}`);
const steps = JSON.parse(completed.stdout) as FsStep[];

t.test('the uninterrupted work writes every blob and manifest to a temporary name, fsyncs it, renames it and fsyncs the directory', async (t) => {
  const isVisible = (path: string) => (path.startsWith('manifests/') ? !basename(path).startsWith('.') : BLOB_FILE.test(basename(path)));
  const renames = steps.map((step, index) => ({ step, index })).filter(({ step }) => step.op === 'rename');
  t.ok(renames.length >= 5, `${renames.length} renames: three blobs and two manifests`);
  for (const { step, index } of renames) {
    const writes = steps.slice(0, index).map((s, i) => ({ s, i })).filter(({ s }) => s.path === step.path && s.op === 'write');
    const lastWrite = writes.at(-1)?.i ?? -1;
    t.ok(lastWrite >= 0, `${step.path} was written before its rename`);
    t.ok(
      steps.slice(lastWrite + 1, index).some((s) => s.op === 'sync' && s.path === step.path),
      `${step.path} is fsynced after its last write and before it is renamed to ${step.to}`,
    );
    t.same(steps[index + 1], { op: 'sync', path: dirname(step.to!) }, `the rename to ${step.to} is followed by an fsync of its directory`);
  }
  const direct = steps.filter((s) => (s.op === 'write' || s.op === 'open') && isVisible(s.path));
  t.same(direct, [], 'nothing is ever written under a name a reader sees');

  const manifestRename = steps.findIndex((s) => s.op === 'rename' && s.to === 'manifests/registry.ollama.ai/library/tiny/latest');
  for (const layer of [expected.after.config, ...expected.after.layers]) {
    const blobRename = steps.findIndex((s) => s.op === 'rename' && s.to === `blobs/${blobFileOf(layer.digest)}`);
    t.ok(blobRename >= 0 && blobRename < manifestRename, `${layer.mediaType} is in place before the manifest that names it`);
  }
  const firstRemoval = steps.findIndex((s) => s.op === 'remove' && s.path.startsWith('blobs/'));
  t.ok(firstRemoval > manifestRename + 1, 'a replaced manifest gives up its blobs only after the new one is durable');
});

/** A warning from the store means it met something it could not read. */
function watchingStore(root: string): { store: FsModelStore; warnings: unknown[] } {
  const warnings: unknown[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
  return { store: new FsModelStore(root, logger), warnings };
}

/** Each model is absent or one of the manifests it may hold, and every blob a reader can see is whole. */
async function checkConsistent(t: Test, root: string, store: FsModelStore, allowed: [ModelName, (Manifest | undefined)[]][]): Promise<void> {
  const visible: { name: string; manifest: Manifest }[] = [];
  for (const [name, options] of allowed) {
    const model = await store.getModel(name);
    const held = model && JSON.stringify(model.manifest);
    const fits = options.some((option) => (option === undefined ? held === undefined : held === JSON.stringify(option)));
    t.ok(fits, `${formatModelName(name)} is ${model ? 'one of the manifests it may hold' : 'absent, as it may be'}`);
    if (model) visible.push({ name: formatModelName(name), manifest: model.manifest });
  }
  const listed = (await store.listModels()).map((m) => formatModelName(m.name)).sort();
  t.same(listed, visible.map((v) => v.name).sort(), 'no other name is listed');
  const files = await readdir(join(root, 'blobs'));
  const torn = [];
  for (const file of files) {
    const blob = BLOB_FILE.exec(file);
    if (blob && hexOf(await readFile(join(root, 'blobs', file))) !== blob[1]) torn.push(file);
  }
  t.same(torn, [], 'every file named as a blob holds the bytes its name promises');
  for (const { name, manifest } of visible) {
    t.same(namedFiles(manifest).filter((file) => !files.includes(file)), [], `every blob ${name} names is present`);
  }
}

const mayHold = (crashed: boolean): [ModelName, (Manifest | undefined)[]][] =>
  crashed
    ? [
        [names.recreated, [expected.before.recreated, expected.after]],
        [names.copiedOnto, [expected.before.copiedOnto, expected.after]],
        [names.deleted, [expected.before.deleted, undefined]],
      ]
    : [
        [names.recreated, [expected.after]],
        [names.copiedOnto, [expected.after]],
        [names.deleted, [undefined]],
      ];

t.test(`a kill at each of the ${steps.length} disk-changing steps leaves every model old or new, and the work can be redone`, { jobs: 2 }, async (t) => {
  t.ok(steps.length > 30, `${steps.length} steps, among them ${steps.filter((s) => s.op === 'write').length} writes, ${steps.filter((s) => s.op === 'sync').length} fsyncs and ${steps.filter((s) => s.op === 'rename').length} renames`);
  for (let at = 1; at <= steps.length; at++) {
    const step = steps[at - 1]!;
    void t.test(`killed at step ${at}: ${step.op} ${step.path}${step.to ? ` -> ${step.to}` : ''}`, async (t) => {
      const root = await freshCopy();
      const result = await runChild(root, at);
      t.equal(result.signal, 'SIGKILL', 'the child died at the injected step');
      const { store, warnings } = watchingStore(root);
      await checkConsistent(t, root, store, mayHold(true));
      await store.start();
      await checkConsistent(t, root, store, mayHold(true));
      t.same(warnings, [], 'the store met nothing it could not read');

      await doTheWork(store);
      await checkConsistent(t, root, store, mayHold(false));
      // A later start, once the grace period has passed, takes everything the crash left.
      await pruneStore(storePaths(root), { pending: new PendingBlobs(), logger: silentLogger(), graceMs: BLOB_GRACE_MS, now: Date.now() + 2 * BLOB_GRACE_MS });
      t.same((await readdir(join(root, 'blobs'))).sort(), namedFiles(expected.after), 'then blobs/ holds exactly what the models name');
      await store.stop();
      await rm(root, { recursive: true, force: true });
    });
  }
});

t.test('the uninterrupted child ends with the new models', async (t) => {
  const root = await freshCopy();
  t.equal((await runChild(root, 0)).code, 0);
  const { store } = watchingStore(root);
  await checkConsistent(t, root, store, mayHold(false));
});
