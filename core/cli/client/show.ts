// `show MODEL`: the model's architecture, capabilities, parameters, system prompt and license as
// Ollama's CLI summarizes them, or one raw part with --modelfile, --template, --system, ...

import { callJson, ClientError } from './http.js';
import { humanNumber, table } from './format.js';

export interface ShowResponse {
  modelfile?: string;
  parameters?: string;
  template?: string;
  system?: string;
  license?: string;
  details?: { family?: string; parameter_size?: string; quantization_level?: string };
  model_info?: Record<string, unknown>;
  capabilities?: string[];
  messages?: { role: string; content: string }[];
}

export interface ShowFlags {
  license?: boolean;
  modelfile?: boolean;
  parameters?: boolean;
  system?: boolean;
  template?: boolean;
  verbose?: boolean;
}

const PARTS = ['license', 'modelfile', 'parameters', 'system', 'template'] as const;

/** A section: its header indented by two, rows by four, columns four apart. */
function section(header: string, rows: string[][]): string {
  return `  ${header}\n${table(rows.map((row) => ['', ...row]))}\n`;
}

/** The first `n` non-empty lines, and "..." when there are more. */
function head(text: string, n: number): string[][] {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  return [...lines.slice(0, n).map((line) => [line]), ...(lines.length > n ? [['...']] : [])];
}

const numberText = (value: unknown) => (typeof value === 'number' ? String(value) : '');

function metadataValue(value: unknown): string {
  if (Array.isArray(value)) {
    const shown = value.slice(0, 3).map(String);
    return value.length > 3 ? `[${shown.join(' ')} ...+${value.length - 3} more]` : `[${shown.join(' ')}]`;
  }
  return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
}

export function showSummary(info: ShowResponse, verbose: boolean): string {
  const modelInfo = info.model_info ?? {};
  const arch = modelInfo['general.architecture'];
  const model: string[][] = [];
  if (typeof arch === 'string') {
    model.push(['architecture', arch]);
    const count = modelInfo['general.parameter_count'];
    if (typeof count === 'number') model.push(['parameters', humanNumber(count)]);
    model.push(['context length', numberText(modelInfo[`${arch}.context_length`])]);
    model.push(['embedding length', numberText(modelInfo[`${arch}.embedding_length`])]);
  } else {
    model.push(['architecture', info.details?.family ?? ''], ['parameters', info.details?.parameter_size ?? '']);
  }
  model.push(['quantization', info.details?.quantization_level ?? '']);
  let out = section('Model', model);
  if (info.capabilities?.length) out += section('Capabilities', info.capabilities.map((c) => [c]));
  if (info.parameters) {
    const rows = info.parameters
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => line.trim().split(/\s+/));
    out += section('Parameters', rows);
  }
  if (verbose && info.model_info) {
    const keys = Object.keys(info.model_info).sort();
    out += section('Metadata', keys.map((key) => [key, metadataValue(info.model_info![key])]));
  }
  if (info.system) out += section('System', head(info.system, 2));
  if (info.license) out += section('License', head(info.license, 2));
  return out;
}

export async function showCommand(name: string, flags: ShowFlags): Promise<void> {
  const chosen = PARTS.filter((part) => flags[part]);
  if (chosen.length > 1) throw new ClientError("only one of '--license', '--modelfile', '--parameters', '--system', or '--template' can be specified");
  const info = await callJson<ShowResponse>('/api/show', { body: { model: name, ...(flags.verbose ? { verbose: true } : {}) } });
  const part = chosen[0];
  if (!part) {
    process.stdout.write(showSummary(info, flags.verbose ?? false));
    return;
  }
  const text = info[part] ?? '';
  // Ollama prints the system prompt and template exactly, the other parts with a newline.
  process.stdout.write(part === 'system' || part === 'template' ? text : text + '\n');
}
