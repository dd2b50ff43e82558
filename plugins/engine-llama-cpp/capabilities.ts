// What a model can do, read from its GGUF metadata and its Ollama template, as Ollama's `show`
// reports it: completion always; embedding, insert (fill-in-middle), tools and thinking when supported.

import { readGgufFileInfo, type GgufFileInfo } from 'node-llama-cpp';
import type { Capability } from '../../core/contracts/engine.js';
import { checkGguf } from '../../core/models/gguf.js';
import { CHAT_TEMPLATE_THINKING_TAGS, chatTemplateThinks, inferThinkingTags, type ThinkingTags } from '../../core/models/thinking.js';
import { templateUses } from './template-prompt.js';

/** Architectures llama.cpp can pool into embeddings without a dedicated pooling head. */
const EMBEDDING_ARCHITECTURES = new Set(['llama', 'bert', 'nomic-bert', 'jina-bert-v2', 't5encoder']);

export function capabilitiesOf(template: string | undefined, metadata: GgufFileInfo['metadata']): Capability[] {
  const caps: Capability[] = ['completion'];
  const architecture = String(metadata.general?.architecture ?? '');
  const raw = metadata as unknown as Record<string, Record<string, unknown> | undefined>;
  if (EMBEDDING_ARCHITECTURES.has(architecture) || raw[architecture]?.['pooling_type'] !== undefined) caps.push('embedding');
  const ggml = (metadata.tokenizer?.ggml ?? {}) as Record<string, unknown>;
  const fillInMiddle = ['fim_pre_token_id', 'prefix_token_id'].some((key) => ggml[key] !== undefined);
  if ((template && templateUses(template, 'Suffix')) || fillInMiddle) caps.push('insert');
  const chatTemplate = metadata.tokenizer?.chat_template;
  const tools = template ? templateUses(template, 'Tools') : typeof chatTemplate === 'string' && /\btools\b/.test(chatTemplate);
  if (tools) caps.push('tools');
  if (thinkingTags(template, metadata)) caps.push('thinking');
  return caps;
}

/** The tags around the model's thinking, from its Ollama template or else its GGUF chat template; none when it does not think. */
export function thinkingTags(template: string | undefined, metadata: GgufFileInfo['metadata']): ThinkingTags | undefined {
  if (template) return inferThinkingTags(template);
  const chatTemplate = metadata.tokenizer?.chat_template;
  return typeof chatTemplate === 'string' && chatTemplateThinks(chatTemplate) ? CHAT_TEMPLATE_THINKING_TAGS : undefined;
}

/**
 * GGUF headers by file path: reading one parses the whole metadata section, so keep it. The
 * project's reader checks each header first: node-llama-cpp's own trusts every count it reads.
 */
export class ModelFiles {
  private readonly cache = new Map<string, Promise<GgufFileInfo>>();

  info(path: string): Promise<GgufFileInfo> {
    let info = this.cache.get(path);
    if (!info) {
      info = checkGguf(path).then(() => readGgufFileInfo(path, { readTensorInfo: false, sourceType: 'filesystem', logWarnings: false }));
      info.catch(() => this.cache.delete(path));
      this.cache.set(path, info);
    }
    return info;
  }

  clear(): void {
    this.cache.clear();
  }
}
