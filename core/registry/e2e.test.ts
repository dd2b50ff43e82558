// The milestone end to end: node A creates the tiny model and the CLI pushes it to a loopback
// docker-registry; the CLI pulls it into node B's empty store; node B then generates with it.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { request } from 'undici';
import { startTestNode, type TestNode } from '../../conformance/fixtures/node.js';
import { tinyGgufBytes } from '../../conformance/fixtures/tiny-gguf.js';
import { dockerRegistryMissing, startDockerRegistry } from './testing/docker-registry.js';

const CLI = resolve(fileURLToPath(import.meta.url), '../../../dist/core/cli/main.js');
const missing = dockerRegistryMissing() ?? (existsSync(CLI) ? undefined : `${CLI} is missing: run npm run build:ts first`);
if (missing && process.env.CI === 'true') t.fail(`the end-to-end registry test cannot run under CI: ${missing}`);

function cli(args: string[], host: string, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, OLLAMA_HOST: host }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

async function post(node: TestNode, path: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const response = await request(`${node.url}${path}`, { method: 'POST', body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body) });
  const text = await response.body.text();
  return { status: response.statusCode, json: text.trim() === '' ? undefined : JSON.parse(text.trim().split('\n').at(-1)!) };
}

t.test('push from node A, pull into node B, generate on B', { skip: missing }, async (t) => {
  const registry = await startDockerRegistry();
  t.teardown(() => registry.stop());
  const cwd = await mkdtemp(join(tmpdir(), 'od-e2e-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  const a = await startTestNode();
  t.teardown(() => a.stop());
  const b = await startTestNode();
  t.teardown(() => b.stop());
  const model = `${registry.host}/library/tiny:latest`;

  const gguf = tinyGgufBytes();
  const digest = `sha256:${createHash('sha256').update(gguf).digest('hex')}`;
  t.equal((await post(a, `/api/blobs/${digest}`, gguf)).status, 201);
  t.same((await post(a, '/api/create', { model, files: { 'tiny.gguf': digest }, template: '{{ .Prompt }}', stream: false })).json, { status: 'success' });

  const pushed = await cli(['push', model, '--insecure'], a.url, cwd);
  t.equal(pushed.code, 0, pushed.stderr);
  t.match(pushed.stderr, /retrieving manifest\n/);
  t.match(pushed.stderr, /pushing manifest\nsuccess\n$/);

  const pulled = await cli(['pull', model, '--insecure'], b.url, cwd);
  t.equal(pulled.code, 0, pulled.stderr);
  t.match(pulled.stderr, /^pulling manifest\n/);
  t.match(pulled.stderr, new RegExp(`pulling ${digest.slice(7, 19)}\\.\\.\\. 100% .* ${Math.round(gguf.byteLength / 1000)} KB\\n`));
  t.match(pulled.stderr, /verifying sha256 digest\nwriting manifest\nsuccess\n$/);

  const generated = await post(b, '/api/generate', { model, prompt: 'hello', stream: false, options: { num_predict: 4, temperature: 0 } });
  t.equal(generated.status, 200, JSON.stringify(generated.json));
  t.match(generated.json, { model, done: true });

  const absent = await cli(['pull', `${registry.host}/library/absent`, '--insecure'], b.url, cwd);
  t.equal(absent.code, 1);
  t.match(absent.stderr, `Error: pull model manifest: file does not exist: registry ${registry.host} has no ${registry.host}/library/absent:latest\n`);
});
