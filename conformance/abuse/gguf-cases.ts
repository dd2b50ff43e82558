// Hostile GGUF files uploaded as blobs and created as models: a 150M-entry array, 2M metadata keys,
// arrays nested 100,000 deep. Each is refused at upload or create with a 400 that names the problem.

import type { Test } from 'tap';
import { refused, type AbuseRun, type AttackContext } from './harness.js';
import { hugeArrayGguf, manyKeysGguf, nestedArraysGguf, type GgufBody } from './hostile-gguf.js';
import { send, uploadBlob, type Reply } from './raw-http.js';

const UPLOAD_LIMIT_MS = 40_000;

/** Uploads `file` and creates a model of it: the upload's answer, and create's when it got that far. */
export async function uploadAndCreate(context: AttackContext, file: GgufBody, model: string): Promise<{ upload: Reply; create?: Reply }> {
  const { url, signal } = context;
  const upload = await uploadBlob(url, file, signal);
  if (upload.status >= 400) return { upload };
  const create = await send(url, '/api/create', { body: { model, files: { 'model.gguf': file.digest }, stream: false }, signal });
  return { upload, create };
}

/** Refused at upload or at create, with a 400 whose message matches `names`. */
async function refusedFile(t: Test, context: AttackContext, file: GgufBody, names: RegExp): Promise<void> {
  const model = context.scratch('hostile');
  const { upload, create } = await uploadAndCreate(context, file, model);
  if (!create) return refused(t, upload, 400, `upload of ${file.name}`, names);
  t.ok(upload.status === 201 || upload.status === 200, `upload of ${file.name}: accepted for checking at create (${upload.status})`);
  refused(t, create, 400, `create from ${file.name}`, names);
  if (create.status !== 200) return;
  // It was taken: what used to crash or hang is the model's first use.
  for (const path of ['/api/show', '/api/generate']) {
    await send(context.url, path, { body: { model, prompt: 'hi', stream: false, options: { num_predict: 1 } }, signal: context.signal }).catch(() => undefined);
  }
}

export function ggufCases(run: AbuseRun): void {
  // The 400s below must be about size: the same files, small, are models like any other.
  run.attack('the hostile constructions at harmless sizes are accepted', { limitMs: UPLOAD_LIMIT_MS }, async (t, context) => {
    for (const file of [hugeArrayGguf(1000), manyKeysGguf(1000)]) {
      const { upload, create } = await uploadAndCreate(context, file, context.scratch('benign'));
      t.equal(create?.status, 200, `${file.name}: created (upload ${upload.status}, create ${create?.status} ${create?.text.slice(0, 200)})`);
    }
  });

  run.attack('a GGUF with a 150,000,000-entry array: 400, naming it', { limitMs: UPLOAD_LIMIT_MS, prepare: () => hugeArrayGguf() }, (t, context, file) =>
    refusedFile(t, context, file, /array/i),
  );

  run.attack('a GGUF with 2,000,000 metadata keys: 400, naming them', { limitMs: UPLOAD_LIMIT_MS, prepare: () => manyKeysGguf() }, (t, context, file) =>
    refusedFile(t, context, file, /key|metadata/i),
  );

  run.attack('a GGUF with arrays nested 100,000 deep: 400, naming it', { limitMs: UPLOAD_LIMIT_MS, prepare: () => nestedArraysGguf() }, (t, context, file) =>
    refusedFile(t, context, file, /nest|depth/i),
  );
}
