// Protocol paths a plain docker-registry never takes, against a small fake one: bearer token auth,
// blob redirects to a CDN that must not see the token, 5xx on a part, and a server ignoring Range.

import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { Startable } from '../contracts/plugin.js';
import type { ModelStore } from '../contracts/storage.js';
import { silentLogger } from '../log.js';
import { CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPES, MANIFEST_MEDIA_TYPE, type Manifest } from '../models/manifest.js';
import { parseModelName } from '../models/name.js';
import { fsStore } from '../../plugins/storage-fs/index.js';
import { parseBearerChallenge } from './auth.js';
import { pullModel } from './pull.js';
import { pushModel } from './push.js';
import { RegistryError } from './registry-error.js';
import { seededBytes, writeModel } from './testing/model.js';

const digestOf = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

interface FakeOptions {
  /** The token service refuses. */
  tokenStatus?: number;
  /** The CDN answers 200 with the whole blob whatever the Range. */
  ignoreRange?: boolean;
  /** The CDN answers 503 to this many requests first. */
  failFirst?: number;
}

interface Fake {
  host: string;
  manifest: Manifest;
  blob: Buffer;
  tokenRequests: URLSearchParams[];
  cdnRequests: { range?: string; authorization?: string }[];
  close(): Promise<void>;
}

async function listen(handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function startFake(options: FakeOptions = {}): Promise<Fake> {
  const blob = seededBytes(1024 * 1024 + 17, 21);
  const config = Buffer.from('{"model_format":"gguf"}');
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MANIFEST_MEDIA_TYPE,
    config: { mediaType: CONFIG_MEDIA_TYPE, digest: digestOf(config), size: config.byteLength },
    layers: [{ mediaType: LAYER_MEDIA_TYPES.model, digest: digestOf(blob), size: blob.byteLength }],
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const tokenRequests: URLSearchParams[] = [];
  const cdnRequests: Fake['cdnRequests'] = [];
  let failures = options.failFirst ?? 0;

  const cdn = await listen((request, response) => {
    cdnRequests.push({ range: request.headers.range, authorization: request.headers.authorization });
    if (failures > 0) {
      failures--;
      response.writeHead(503).end('busy');
      return;
    }
    const range = /^bytes=(\d+)-(\d+)$/.exec(request.headers.range ?? '');
    if (!range || options.ignoreRange) {
      response.writeHead(200, { 'content-length': blob.byteLength }).end(blob);
      return;
    }
    const [start, end] = [Number(range[1]), Math.min(Number(range[2]), blob.byteLength - 1)];
    response.writeHead(206, { 'content-range': `bytes ${start}-${end}/${blob.byteLength}`, 'content-length': end - start + 1 });
    response.end(blob.subarray(start, end + 1));
  });

  let registryPort = 0;
  const registry = await listen((request, response) => {
    const url = new URL(request.url!, `http://127.0.0.1:${registryPort}`);
    if (url.pathname === '/token') {
      tokenRequests.push(url.searchParams);
      if (options.tokenStatus) response.writeHead(options.tokenStatus).end('{"details":"no"}');
      else response.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"tok-1"}');
      return;
    }
    if (request.headers.authorization !== 'Bearer tok-1') {
      response
        .writeHead(401, {
          'www-authenticate': `Bearer realm="http://127.0.0.1:${registryPort}/token",service="fake",scope="repository:library/m:pull"`,
        })
        .end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    if (url.pathname === '/v2/library/m/manifests/latest') {
      response.writeHead(200, { 'content-type': MANIFEST_MEDIA_TYPE, 'docker-content-digest': digestOf(manifestBytes) }).end(manifestBytes);
    } else if (url.pathname === `/v2/library/m/blobs/${manifest.config.digest}`) {
      response.writeHead(200, { 'content-length': config.byteLength }).end(config);
    } else if (url.pathname === `/v2/library/m/blobs/${manifest.layers[0]!.digest}`) {
      response.writeHead(307, { location: `http://127.0.0.1:${cdn.port}/blob?sig=abc` }).end();
    } else {
      response.writeHead(404).end('{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known"}]}');
    }
  });
  registryPort = registry.port;
  return {
    host: `127.0.0.1:${registry.port}`,
    manifest,
    blob,
    tokenRequests,
    cdnRequests,
    close: async () => {
      await registry.close();
      await cdn.close();
    },
  };
}

async function newStore(t: Test): Promise<ModelStore & Startable> {
  const store = fsStore({ model_dir: await mkdtemp(join(tmpdir(), 'od-fake-registry-')) })({ logger: silentLogger() });
  await store.start();
  t.teardown(async () => {
    await store.stop();
    await rm(store.root, { recursive: true, force: true });
  });
  return store;
}

const tuning = { partSize: 128 * 1024, parallel: 3, singleStreamBytesPerSecond: Infinity, retryDelayMs: 5 };

async function readAll(store: ModelStore, digest: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of store.readBlob(digest)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

t.test('bearer challenges are parsed like Docker and Ollama send them', async (t) => {
  t.same(parseBearerChallenge('Bearer realm="https://ollama.com/token",service="ollama.com",scope="repository:library/llama3.2:pull"'), {
    realm: 'https://ollama.com/token',
    service: 'ollama.com',
    scope: 'repository:library/llama3.2:pull',
  });
  t.same(parseBearerChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push"'), {
    realm: 'https://auth.docker.io/token',
    service: 'registry.docker.io',
    scope: 'repository:a/b:pull,push',
  });
  t.same(parseBearerChallenge(['Basic realm="x"', 'bearer realm=https://r/t']), { realm: 'https://r/t', service: undefined, scope: undefined });
  t.equal(parseBearerChallenge('Basic realm="registry"'), undefined);
  t.equal(parseBearerChallenge(undefined), undefined);
});

t.test('a token is fetched once and never sent to the CDN a blob redirects to', async (t) => {
  const fake = await startFake();
  t.teardown(() => fake.close());
  const store = await newStore(t);
  await pullModel({ store, name: parseModelName(`${fake.host}/library/m`), insecure: true, onProgress: () => {}, tuning });
  t.equal(fake.tokenRequests.length, 1, 'one token for the whole pull');
  t.equal(fake.tokenRequests[0]!.get('service'), 'fake');
  t.equal(fake.tokenRequests[0]!.get('scope'), 'repository:library/m:pull');
  t.ok(fake.cdnRequests.length >= Math.ceil(fake.blob.byteLength / tuning.partSize), 'parts went straight to the CDN');
  t.ok(
    fake.cdnRequests.every((r) => r.authorization === undefined),
    'the CDN never sees the token',
  );
  t.same(await readAll(store, fake.manifest.layers[0]!.digest), fake.blob);
});

t.test('a first part that arrives fast enough brings the rest in one request', async (t) => {
  const fake = await startFake();
  t.teardown(() => fake.close());
  const store = await newStore(t);
  await pullModel({ store, name: parseModelName(`${fake.host}/library/m`), insecure: true, onProgress: () => {}, tuning: { ...tuning, singleStreamBytesPerSecond: 0 } });
  t.same(
    fake.cdnRequests.map((r) => r.range),
    [`bytes=0-${tuning.partSize - 1}`, `bytes=${tuning.partSize}-${fake.blob.byteLength - 1}`],
  );
  t.same(await readAll(store, fake.manifest.layers[0]!.digest), fake.blob);
});

t.test('a part answered with 503 is retried', async (t) => {
  const fake = await startFake({ failFirst: 2 });
  t.teardown(() => fake.close());
  const store = await newStore(t);
  await pullModel({ store, name: parseModelName(`${fake.host}/library/m`), insecure: true, onProgress: () => {}, tuning });
  t.same(await readAll(store, fake.manifest.layers[0]!.digest), fake.blob);
});

t.test('a server that ignores Range is read once, skipping the kept prefix', async (t) => {
  const fake = await startFake({ ignoreRange: true });
  t.teardown(() => fake.close());
  const store = await newStore(t);
  const digest = fake.manifest.layers[0]!.digest;
  const writer = await store.openBlobWriter(digest);
  await writer.write(fake.blob.subarray(0, 300_000));
  await writer.abort({ keepPartial: true });
  await pullModel({ store, name: parseModelName(`${fake.host}/library/m`), insecure: true, onProgress: () => {}, tuning });
  t.equal(fake.cdnRequests.length, 1, 'one request, no parallel parts');
  t.equal(fake.cdnRequests[0]!.range, `bytes=300000-${300_000 + tuning.partSize - 1}`);
  t.same(await readAll(store, digest), fake.blob);
});

t.test('a refusing token service is a clear error', async (t) => {
  const fake = await startFake({ tokenStatus: 403 });
  t.teardown(() => fake.close());
  const store = await newStore(t);
  const error = (await pullModel({ store, name: parseModelName(`${fake.host}/library/m`), insecure: true, onProgress: () => {} }).catch(
    (e: unknown) => e,
  )) as RegistryError;
  t.type(error, RegistryError);
  t.equal(error.status, 502);
  t.equal(error.message, `pull model manifest: registry ${fake.host} refused access to ${fake.host}/library/m:latest: 403 from token service ${fake.host}: {"details":"no"}`);
});

t.test('a push resumes a broken upload where the registry says it stands', async (t) => {
  const uploads = new Map<string, Buffer[]>();
  const blobs = new Map<string, Buffer>();
  let received = 0;
  let cut = false;
  const server = await listen((request, response) => {
    const url = new URL(request.url!, 'http://fake');
    const body: Buffer[] = [];
    request.on('data', (chunk: Buffer) => {
      received += chunk.byteLength;
      body.push(chunk);
      // The first big PATCH breaks after 300 kB; the registry keeps what arrived, as OCI allows.
      if (!cut && url.pathname.startsWith('/upload/') && request.method === 'PATCH' && Buffer.concat(body).byteLength > 300_000) {
        cut = true;
        uploads.get(url.pathname)!.push(Buffer.concat(body));
        request.socket.destroy();
      }
    });
    request.on('end', () => {
      const id = url.pathname;
      if (request.method === 'HEAD') {
        response.writeHead(blobs.has(url.pathname.split('/').at(-1)!) ? 200 : 404).end();
      } else if (request.method === 'POST') {
        const location = `/upload/${uploads.size + 1}`;
        uploads.set(location, []);
        response.writeHead(202, { location, range: '0-0' }).end();
      } else if (request.method === 'PATCH') {
        uploads.get(id)!.push(Buffer.concat(body));
        const length = Buffer.concat(uploads.get(id)!).byteLength;
        response.writeHead(202, { location: id, range: `0-${length - 1}` }).end();
      } else if (request.method === 'GET' && uploads.has(id)) {
        const length = Buffer.concat(uploads.get(id)!).byteLength;
        response.writeHead(204, { location: id, range: `0-${length - 1}` }).end();
      } else if (request.method === 'PUT' && uploads.has(id)) {
        const bytes = Buffer.concat(uploads.get(id)!);
        const digest = url.searchParams.get('digest')!;
        if (digestOf(bytes) !== digest) return void response.writeHead(400).end('{"errors":[{"code":"DIGEST_INVALID"}]}');
        blobs.set(digest, bytes);
        response.writeHead(201).end();
      } else if (request.method === 'PUT') {
        response.writeHead(201).end();
      } else {
        response.writeHead(404).end();
      }
    });
  });
  t.teardown(() => server.close());
  const store = await newStore(t);
  const name = parseModelName(`127.0.0.1:${server.port}/library/up`);
  const model = seededBytes(1024 * 1024, 31);
  const written = await writeModel(store, name, model);
  await pushModel({ store, name, insecure: true, onProgress: () => {}, tuning: { partSize: 512 * 1024, retryDelayMs: 5 } });
  t.ok(cut, 'the upload was broken once');
  t.same(blobs.get(written.manifest.layers[0]!.digest), model, 'the registry holds the whole blob');
  t.ok(received < model.byteLength + 64 * 1024, `${received} bytes sent for a ${model.byteLength}-byte blob`);
});

t.test('a registry answering 5xx is a clear 502 naming model and registry', async (t) => {
  const server = await listen((_request, response) => {
    response.writeHead(503, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAVAILABLE","message":"maintenance"}]}');
  });
  t.teardown(() => server.close());
  const store = await newStore(t);
  const host = `127.0.0.1:${server.port}`;
  await t.rejects(pullModel({ store, name: parseModelName(`${host}/library/m:v2`), insecure: true, onProgress: () => {} }), {
    status: 502,
    message: `pull model manifest: registry ${host} failed on ${host}/library/m:v2: 503 UNAVAILABLE: maintenance`,
  });
});
