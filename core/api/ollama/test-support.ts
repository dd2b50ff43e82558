// What the Ollama API tests share: a node started for one tap test, raw HTTP helpers, and a tiny
// GGUF model uploaded and created the way an Ollama client would do it.

import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tinyGgufBytes, type TinyGgufOptions } from '../../../conformance/fixtures/tiny-gguf.js';
import { startTestNode, type TestNode } from '../../../conformance/fixtures/node.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export async function nodeFor(t: Teardown, env: Record<string, string> = {}): Promise<TestNode> {
  const node = await startTestNode({ env });
  t.teardown(() => node.stop());
  return node;
}

export function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function post(url: string, path: string, body: unknown, method = 'POST', headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}${path}`, { method, headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

export async function postJson(url: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const response = await post(url, path, body, 'POST', headers);
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

/** GET (or another bodiless method) and the JSON answer. */
export async function getJson(url: string, path: string, method = 'GET'): Promise<any> {
  return (await fetch(`${url}${path}`, { method })).json();
}

export async function ndjson(response: Response): Promise<any[]> {
  const text = await response.text();
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
}

/** Uploads a tiny GGUF through /api/blobs and creates `name` from it; returns the blob digest. `headers` may carry a token. */
export async function createTiny(url: string, name: string, extra: Record<string, unknown> = {}, gguf: TinyGgufOptions = {}, headers: Record<string, string> = {}): Promise<string> {
  const bytes = tinyGgufBytes(gguf);
  const digest = digestOf(bytes);
  const upload = await fetch(`${url}/api/blobs/${digest}`, { method: 'POST', body: bytes, headers });
  if (upload.status !== 201 && upload.status !== 200) throw new Error(`blob upload answered ${upload.status}`);
  const created = await postJson(url, '/api/create', { model: name, files: { 'tiny.gguf': digest }, stream: false, ...extra }, headers);
  if (created.status !== 200) throw new Error(`create answered ${created.status}: ${JSON.stringify(created.body)}`);
  return digest;
}

/** Manifest files under the node's store, relative to manifests/, sorted. */
export function manifestFiles(node: TestNode): string[] {
  const root = join(node.dataDir, 'models', 'manifests');
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(root.length))
    .sort();
}

/** The names /api/tags lists, sorted. */
export async function modelNames(node: TestNode): Promise<string[]> {
  const tags = (await (await fetch(`${node.url}/api/tags`)).json()) as { models: { name: string }[] };
  return tags.models.map((m) => m.name).sort();
}
