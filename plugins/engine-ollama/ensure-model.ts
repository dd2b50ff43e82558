// Makes sure the daemon holds a model before it runs there: /api/show and /api/tags tell whether it
// has the same manifest; when not, the files go up through /api/blobs and /api/create makes it.

import type { ModelSpec } from '../../core/contracts/engine.js';
import { ProductError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { unlessAborted } from '../../core/abort.js';
import type { DaemonClient } from './client.js';
import { FileDigests } from './file-digest.js';
import { createBody, modelKey } from './mapping.js';

type Json = Record<string, unknown>;

interface TagsAnswer {
  models?: { name?: string; model?: string; digest?: string }[];
}

interface Ensured {
  spec: ModelSpec;
  done: Promise<void>;
}

const isNotFound = (error: unknown) => error instanceof ProductError && error.code === 'OD_ERR_MODEL_NOT_FOUND';

export class DaemonModels {
  /** By model key: one daemon name holds one digest at a time. */
  private readonly ensured = new Map<string, Ensured>();
  /** /api/show answers by name and digest. */
  private readonly shown = new Map<string, Promise<Json>>();
  private readonly files = new FileDigests();

  /** `stopping` bounds the transfers: they outlive a request that gave up, since others may wait on them. */
  constructor(
    private readonly client: DaemonClient,
    private readonly stopping: AbortSignal,
    private readonly logger: Logger,
  ) {}

  /** Resolves once the daemon holds `spec`; concurrent callers share one check and one upload. */
  ensure(spec: ModelSpec, signal: AbortSignal): Promise<void> {
    const key = modelKey(spec.name);
    let entry = this.ensured.get(key);
    if (entry?.spec.digest !== spec.digest) {
      const created: Ensured = { spec, done: this.bring(spec) };
      created.done.catch(() => {
        if (this.ensured.get(key) === created) this.ensured.delete(key);
      });
      this.ensured.set(key, created);
      entry = created;
    }
    return unlessAborted(entry.done, signal);
  }

  /** The daemon lost the model (`ollama rm`, a wiped store): the next run puts it back. */
  forget(spec: ModelSpec): void {
    const key = modelKey(spec.name);
    if (this.ensured.get(key)?.spec.digest === spec.digest) this.ensured.delete(key);
    this.shown.delete(`${key}\0${spec.digest}`);
  }

  /** The spec this engine ensured under a daemon name, if any. */
  specOf(name: string): ModelSpec | undefined {
    return this.ensured.get(modelKey(name))?.spec;
  }

  /** Names of the models this engine put or found on the daemon. */
  names(): string[] {
    return [...this.ensured.values()].map((entry) => entry.spec.name);
  }

  /** /api/show for the model, once per digest. */
  async show(spec: ModelSpec, signal: AbortSignal): Promise<Json> {
    await this.ensure(spec, signal);
    const key = `${modelKey(spec.name)}\0${spec.digest}`;
    let answer = this.shown.get(key);
    if (!answer) {
      answer = this.client.json<Json>('POST', '/api/show', this.stopping, { model: spec.name });
      answer.catch(() => this.shown.delete(key));
      this.shown.set(key, answer);
    }
    return unlessAborted(answer, signal);
  }

  private async bring(spec: ModelSpec): Promise<void> {
    const signal = this.stopping;
    const show = await this.client.json<Json>('POST', '/api/show', signal, { model: spec.name }).catch((error: unknown) => {
      if (isNotFound(error)) return undefined;
      throw error;
    });
    if (show && (await this.sameManifest(spec, signal))) {
      this.shown.set(`${modelKey(spec.name)}\0${spec.digest}`, Promise.resolve(show));
      return;
    }
    const started = performance.now();
    const model = await this.upload(spec.modelPath, signal);
    const projector = spec.projectorPath ? await this.upload(spec.projectorPath, signal) : undefined;
    const adapters: string[] = [];
    for (const path of spec.adapterPaths) adapters.push(await this.upload(path, signal));
    await this.client.json('POST', '/api/create', signal, createBody(spec, { model, adapters, ...(projector ? { projector } : {}) }));
    this.logger.info({ model: spec.name, digest: spec.digest, ms: Math.round(performance.now() - started) }, 'model created on the Ollama daemon');
  }

  /** Whether the daemon's manifest for the name is the spec's own (both pulled from one registry, say). */
  private async sameManifest(spec: ModelSpec, signal: AbortSignal): Promise<boolean> {
    const { models = [] } = await this.client.json<TagsAnswer>('GET', '/api/tags', signal);
    const key = modelKey(spec.name);
    const entry = models.find((model) => modelKey(model.name ?? model.model ?? '') === key);
    return entry?.digest !== undefined && `sha256:${entry.digest.replace(/^sha256:/, '')}` === spec.digest;
  }

  /** The file's blob on the daemon, uploaded unless the daemon already has it; returns its digest. */
  private async upload(path: string, signal: AbortSignal): Promise<string> {
    const { digest, size } = await this.files.of(path, signal);
    if (!(await this.client.hasBlob(digest, signal))) {
      await this.client.uploadBlob(digest, path, size, signal);
      this.logger.debug({ digest, size }, 'blob uploaded to the Ollama daemon');
    }
    return digest;
  }
}
