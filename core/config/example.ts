// Renders config/node.yaml from the schema: every key with its default and why, so the example
// can never drift from what the node accepts (a test compares the two).

import { stringify } from 'yaml';
import { isSetting, type SchemaTree, type Setting } from './setting.js';
import { schema } from './schema.js';

const DERIVED_DEFAULTS: Record<string, string> = {
  'node.name': 'the host name, with -<api port> when the port is not 11434',
  'consensus.data_dir': '<storage.data_dir>/consensus',
  'storage.model_dir': '<storage.data_dir>/models',
  'storage.cache_dir': '<storage.data_dir>/cache',
  'scheduler.worker_count': 'CPU cores - 1',
};

function renderValue(path: string, setting: Setting<unknown>): string {
  if (typeof setting.default === 'function') {
    return `# ${path.split('.').at(-1)}:     (default: ${DERIVED_DEFAULTS[path] ?? 'derived'})`;
  }
  const value = setting.format ? setting.format(setting.default as never) : setting.default;
  const rendered = stringify({ [path.split('.').at(-1)!]: value }, { lineWidth: 0 }).trimEnd();
  return rendered;
}

function render(tree: SchemaTree, prefix: string, depth: number): string[] {
  const indent = '  '.repeat(depth);
  const lines: string[] = [];
  for (const [key, node] of Object.entries(tree)) {
    const path = prefix + key;
    if (isSetting(node)) {
      const env = node.env ? `  [env ${node.env.join(', ')}]` : '';
      const flag = node.flag ? `  [--${node.flag}]` : '';
      lines.push(`${indent}# ${node.why}${env}${flag}`);
      lines.push(...renderValue(path, node).split('\n').map((line) => indent + line));
    } else {
      if (depth === 0 && lines.length > 0) lines.push('');
      lines.push(`${indent}${key}:`);
      lines.push(...render(node, `${path}.`, depth + 1));
    }
  }
  return lines;
}

export function renderExampleConfig(): string {
  return [
    '# ollama-distributed node configuration: every key with its default.',
    '# Precedence: these defaults <- this file (--config) <- OLLAMA_* environment variables <- CLI flags.',
    '# Check the effective values and where each came from with: ollama-distributed config print --config <file>',
    '',
    ...render(schema, '', 0),
    '',
  ].join('\n');
}
