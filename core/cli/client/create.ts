// `create NAME -f Modelfile`: parses the Modelfile, uploads local GGUF files (FROM, ADAPTER) the
// node lacks as blobs, then asks /api/create for the model and prints the statuses it streams.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import cliProgress from 'cli-progress';
import { ModelfileError, modelfileRequest, parseModelfile, type SourceReference } from '../../modelfile/index.js';
import { call, ClientError, ndjson } from './http.js';

/** Smaller uploads finish before a bar would be worth drawing. */
const PROGRESS_THRESHOLD = 16 * 1024 * 1024;

/** `~`, `~/x`, absolute, or relative to the Modelfile's directory. */
function expandPath(path: string, relativeTo: string): string {
  if (path === '~') return homedir();
  if (path.startsWith('~/')) return join(homedir(), path.slice(2));
  return isAbsolute(path) ? resolve(path) : resolve(relativeTo, path);
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return `sha256:${hash.digest('hex')}`;
}

interface LocalFile {
  path: string;
  size: number;
}

/** The local file a FROM or ADAPTER names, or undefined when nothing is there (FROM then names a model). */
async function localFile(ref: SourceReference, command: string, relativeTo: string): Promise<LocalFile | undefined> {
  const path = expandPath(ref.value, relativeTo);
  try {
    const info = await stat(path);
    if (info.isDirectory()) {
      throw new ModelfileError(`${command} ${ref.value}: directories of safetensors or PyTorch files are not supported; convert them to GGUF first`, ref.line);
    }
    return { path, size: info.size };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function uploadProgress(digest: string, size: number): { counter: Transform; stop(): void } {
  const bar =
    size >= PROGRESS_THRESHOLD
      ? new cliProgress.SingleBar(
          { format: `copying file ${digest} {percentage}% [{bar}] {value}/{total} MB`, stream: process.stderr, hideCursor: true },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  const mb = (bytes: number) => Math.round(bytes / 1e6);
  bar?.start(mb(size), 0);
  let sent = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      sent += chunk.length;
      bar?.update(mb(sent));
      done(null, chunk);
    },
  });
  return { counter, stop: () => bar?.stop() };
}

/** Uploads the file unless the node already holds a blob with its digest. */
async function ensureBlob(path: string, size: number, digest: string): Promise<void> {
  try {
    await call(`/api/blobs/${digest}`, { method: 'HEAD' });
    return;
  } catch (error) {
    if (!(error instanceof ClientError) || error.status !== 404) throw error;
  }
  const progress = uploadProgress(digest, size);
  try {
    const body = Readable.toWeb(createReadStream(path).pipe(progress.counter)) as ReadableStream<Uint8Array>;
    await call(`/api/blobs/${digest}`, { method: 'POST', stream: body });
  } finally {
    progress.stop();
  }
}

interface CreateBody {
  model: string;
  from?: string;
  files?: Record<string, string>;
  adapters?: Record<string, string>;
  template?: string;
  system?: string;
  license?: string[];
  parameters?: Record<string, unknown>;
  messages?: { role: string; content: string }[];
  stream: true;
}

/** Hashes and uploads each file; returns file name → digest, as /api/create takes them. */
async function uploadFiles(files: LocalFile[]): Promise<Record<string, string>> {
  const digests: Record<string, string> = {};
  for (const file of files) {
    const digest = await sha256File(file.path);
    await ensureBlob(file.path, file.size, digest);
    digests[basename(file.path)] = digest;
  }
  return digests;
}

export async function createCommand(name: string, flags: { file?: string }): Promise<void> {
  const modelfilePath = resolve(flags.file ?? 'Modelfile');
  let text: string;
  try {
    text = await readFile(modelfilePath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new ClientError("specified Modelfile wasn't found");
    throw error;
  }
  const parts = modelfileRequest(parseModelfile(text));
  for (const warning of parts.warnings) process.stdout.write(warning + '\n');
  process.stderr.write('gathering model components\n');
  const relativeTo = dirname(modelfilePath);
  const models: string[] = [];
  const weights: LocalFile[] = [];
  for (const ref of parts.from) {
    const file = await localFile(ref, 'FROM', relativeTo);
    if (file) weights.push(file);
    else models.push(ref.value);
  }
  const adapterFiles: LocalFile[] = [];
  for (const ref of parts.adapters) {
    const file = await localFile(ref, 'ADAPTER', relativeTo);
    if (!file) throw new ModelfileError(`ADAPTER ${ref.value}: no such file`, ref.line);
    adapterFiles.push(file);
  }
  const files = await uploadFiles(weights);
  const adapters = await uploadFiles(adapterFiles);
  const body: CreateBody = { model: name, stream: true };
  if (models.length > 0) body.from = models.at(-1)!;
  if (Object.keys(files).length > 0) body.files = files;
  if (Object.keys(adapters).length > 0) body.adapters = adapters;
  if (parts.template !== undefined) body.template = parts.template;
  if (parts.system !== undefined) body.system = parts.system;
  if (parts.license) body.license = parts.license;
  if (parts.parameters) body.parameters = parts.parameters;
  if (parts.messages) body.messages = parts.messages;

  const response = await call('/api/create', { body });
  let last = '';
  for await (const update of ndjson<{ status?: string }>(response)) {
    if (update.status && update.status !== last) {
      last = update.status;
      process.stderr.write(update.status + '\n');
    }
  }
}
