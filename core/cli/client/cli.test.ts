// The compiled CLI (dist/core/cli/main.js, built by `npm test`) against a test node running the
// llama-cpp engine: create from a Modelfile with FROM ./tiny.gguf, list, show, run, ps, cp, rm,
// and the errors a user sees.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startTestNode } from '../../../conformance/fixtures/node.js';
import { writeTinyGguf } from '../../../conformance/fixtures/tiny-gguf.js';

const CLI = resolve(fileURLToPath(import.meta.url), '../../../../dist/core/cli/main.js');
if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build:ts first`);

const dir = await mkdtemp(join(tmpdir(), 'od-cli-'));
const node = await startTestNode();
t.teardown(async () => {
  await node.stop();
  await rm(dir, { recursive: true, force: true });
});

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], options: { input?: string; host?: string } = {}): Promise<Result> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: dir,
      env: { ...process.env, OLLAMA_HOST: options.host ?? node.url },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}

await writeTinyGguf(join(dir, 'tiny.gguf'));
await writeFile(
  join(dir, 'Modelfile'),
  ['# the tiny test model', 'FROM ./tiny.gguf', 'PARAMETER num_ctx 2048', 'PARAMETER stop <|im_end|>', 'SYSTEM """You are tiny.', 'Answer briefly."""', 'LICENSE MIT'].join('\n'),
);

t.test('create uploads the GGUF and streams statuses; again, the blob is reused', async (t) => {
  const first = await cli(['create', 'tiny', '-f', 'Modelfile']);
  t.equal(first.code, 0, first.stderr);
  t.match(first.stderr, /gathering model components/);
  t.match(first.stderr, /success/);
  const blobs = await fetch(`${node.url}/api/tags`).then((r) => r.json() as Promise<{ models: { name: string }[] }>);
  t.ok(blobs.models.some((m) => m.name === 'tiny:latest'));
  const again = await cli(['create', 'tiny']);
  t.equal(again.code, 0, again.stderr);
  t.match(again.stderr, /success/);
});

t.test('create FROM an existing model', async (t) => {
  await writeFile(join(dir, 'Derived'), 'FROM tiny\nSYSTEM Be terse.\n');
  const created = await cli(['create', 'tiny-derived', '-f', 'Derived']);
  t.equal(created.code, 0, created.stderr);
  t.equal((await cli(['show', 'tiny-derived', '--system'])).stdout, 'Be terse.');
  t.equal((await cli(['rm', 'tiny-derived'])).code, 0);
});

t.test('list', async (t) => {
  const { code, stdout } = await cli(['list']);
  t.equal(code, 0);
  const [header, ...rows] = stdout.trimEnd().split('\n');
  t.match(header, /^NAME\s+ID\s+SIZE\s+MODIFIED$/);
  t.match(rows.find((row) => row.startsWith('tiny:latest')), /^tiny:latest\s+[0-9a-f]{12}\s+\d+ KB\s+(Less than a second|\d+ seconds?) ago$/);
  t.equal((await cli(['ls', 'nothing-like-this'])).stdout, 'NAME    ID    SIZE    MODIFIED\n', 'a prefix filters');
});

t.test('show: the summary and each part', async (t) => {
  const summary = await cli(['show', 'tiny']);
  t.equal(summary.code, 0, summary.stderr);
  t.match(summary.stdout, /^ {2}Model\n/);
  t.match(summary.stdout, /\n {4}architecture {4,}llama\n/);
  t.match(summary.stdout, /\n {2}Parameters\n/);
  t.match(summary.stdout, /num_ctx {4,}2048/);
  t.match(summary.stdout, /\n {2}System\n {4}You are tiny\.\n {4}Answer briefly\.\n/);
  t.match(summary.stdout, /\n {2}License\n {4}MIT\n/);
  t.equal((await cli(['show', 'tiny', '--system'])).stdout, 'You are tiny.\nAnswer briefly.');
  t.equal((await cli(['show', 'tiny', '--license'])).stdout, 'MIT\n');
  t.match((await cli(['show', 'tiny', '--parameters'])).stdout, /stop\s+"<\|im_end\|>"/);
  t.match((await cli(['show', 'tiny', '--modelfile'])).stdout, /^FROM /m);
  const both = await cli(['show', 'tiny', '--system', '--license']);
  t.equal(both.code, 1);
  t.equal(both.stderr, "Error: only one of '--license', '--modelfile', '--parameters', '--system', or '--template' can be specified\n");
});

t.test('run with a prompt streams a reply', async (t) => {
  const { code, stdout, stderr } = await cli(['run', 'tiny', 'hello', '--verbose']);
  t.equal(code, 0, stderr);
  t.ok(stdout.length > 0);
  t.ok(stdout.endsWith('\n\n'), 'ends like ollama run');
  t.match(stderr, /total duration: {7}\S+/);
});

t.test('run reads the prompt from stdin when it is not a terminal', async (t) => {
  const { code, stdout, stderr } = await cli(['run', 'tiny'], { input: 'hello from stdin' });
  t.equal(code, 0, stderr);
  t.ok(stdout.endsWith('\n\n'));
});

t.test('ps shows the loaded model', async (t) => {
  const { code, stdout } = await cli(['ps']);
  t.equal(code, 0);
  const [header, ...rows] = stdout.trimEnd().split('\n');
  t.match(header, /^NAME\s+ID\s+SIZE\s+PROCESSOR\s+CONTEXT\s+UNTIL$/);
  t.match(rows.find((row) => row.startsWith('tiny:latest')), /^tiny:latest\s+[0-9a-f]{12}\s+\S+ [KMG]?B\s+100% CPU\s+\d+\s+\d+ minutes from now$/);
});

t.test('cp and rm', async (t) => {
  const copied = await cli(['cp', 'tiny', 'tiny-copy']);
  t.equal(copied.code, 0, copied.stderr);
  t.equal(copied.stdout, "copied 'tiny' to 'tiny-copy'\n");
  t.match((await cli(['list'])).stdout, /^tiny-copy:latest\s/m);
  const removed = await cli(['rm', 'tiny-copy']);
  t.equal(removed.code, 0, removed.stderr);
  t.equal(removed.stdout, "deleted 'tiny-copy'\n");
  t.notMatch((await cli(['list'])).stdout, /tiny-copy/);
});

t.test('errors print Error: <message> and exit 1', async (t) => {
  const cases: [string[], string][] = [
    [['run', 'nope', 'hi'], "Error: model 'nope' not found\n"],
    [['show', 'nope'], "Error: model 'nope' not found\n"],
    [['rm', 'nope'], "Error: model 'nope' not found\n"],
    [['cp', 'nope', 'other'], 'Error: model "nope" not found\n'],
    [['create', 'x', '-f', 'Missing'], "Error: specified Modelfile wasn't found\n"],
  ];
  for (const [args, stderr] of cases) {
    const result = await cli(args);
    t.equal(result.code, 1, args.join(' '));
    t.equal(result.stderr, stderr, args.join(' '));
  }
  await writeFile(join(dir, 'Broken'), 'FROM ./tiny.gguf\nPARAMETER temperature hot\n');
  const broken = await cli(['create', 'x', '-f', 'Broken']);
  t.equal(broken.code, 1);
  t.equal(broken.stderr, "Error: (line 2): invalid float value 'hot' for temperature\n");
  const port = await closedPort();
  const unreachable = await cli(['list'], { host: `127.0.0.1:${port}` });
  t.equal(unreachable.code, 1);
  t.equal(unreachable.stderr, `Error: could not connect to ollama-distributed at http://127.0.0.1:${port}, is it running? (connect ECONNREFUSED 127.0.0.1:${port})\n`);
});
