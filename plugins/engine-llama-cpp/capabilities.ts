// What a model can do, read from its GGUF metadata and its Ollama template, as Ollama's `show`
// reports it: embedding with a pooling type, else completion; tools, insert and thinking from the template.

import { readGgufFileInfo, type GgufFileInfo } from 'node-llama-cpp';
import type { Capability } from '../../core/contracts/engine.js';
import { checkGguf } from '../../core/models/gguf.js';
import { CHAT_TEMPLATE_THINKING_TAGS, chatTemplateThinks, inferThinkingTags, type ThinkingTags } from '../../core/models/thinking.js';
import { templateUses } from './template-prompt.js';

/** Architectures llama.cpp can pool into embeddings without a dedicated pooling head. */
const EMBEDDING_ARCHITECTURES = new Set(['llama', 'bert', 'nomic-bert', 'jina-bert-v2', 't5encoder']);

function architectureKeys(metadata: GgufFileInfo['metadata']): Record<string, unknown> {
  const raw = metadata as unknown as Record<string, Record<string, unknown> | undefined>;
  return raw[String(metadata.general?.architecture ?? '')] ?? {};
}

/** Whether llama.cpp can pool this model's output into an embedding (Ollama embeds with any model). */
export function canEmbed(metadata: GgufFileInfo['metadata']): boolean {
  return EMBEDDING_ARCHITECTURES.has(String(metadata.general?.architecture ?? '')) || architectureKeys(metadata)['pooling_type'] !== undefined;
}

/**
 * Ollama's Model.Capabilities (server/images.go) for the template that runs: the GGUF chat
 * template's tools and thinking first when no Ollama template is set, then embedding for a model
 * with a pooling type or else completion, then what the Ollama template uses.
 */
export function capabilitiesOf(template: string | undefined, metadata: GgufFileInfo['metadata']): Capability[] {
  const caps: Capability[] = [];
  const chatTemplate = metadata.tokenizer?.chat_template;
  if (!template && typeof chatTemplate === 'string' && chatTemplate !== '') {
    if (chatTemplate.includes('tools') || chatTemplate.includes('tool_call')) caps.push('tools');
    if (chatTemplateThinks(chatTemplate)) caps.push('thinking');
  }
  caps.push(architectureKeys(metadata)['pooling_type'] !== undefined ? 'embedding' : 'completion');
  if (template) {
    if (templateUses(template, 'Tools')) caps.push('tools');
    if (templateUses(template, 'Suffix')) caps.push('insert');
    if (inferThinkingTags(template)) caps.push('thinking');
  }
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
