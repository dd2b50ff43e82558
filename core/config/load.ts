// Builds the effective config from defaults, a YAML file, OLLAMA_* variables and CLI flags, and
// records where each value came from. Any problem is reported with its key path and source.

import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigValueError, flattenSchema, type Setting, type Source } from './setting.js';
import { crossFieldProblems, schema, type NodeConfig } from './schema.js';

export interface ConfigProblem {
  path: string;
  source: Source;
  /** Where the source was: the env variable, the flag, or the file. */
  origin?: string;
  value?: unknown;
  message: string;
}

export class ConfigError extends Error {
  readonly code = 'OD_ERR_CONFIG';
  constructor(readonly problems: ConfigProblem[]) {
    super(problems.map(describeProblem).join('\n'));
  }
}

function describeProblem(p: ConfigProblem): string {
  const where = p.origin ? ` (from ${p.origin})` : p.source === 'default' ? '' : ` (from ${p.source})`;
  const value = p.value === undefined ? '' : ` = ${JSON.stringify(p.value)}`;
  return `config ${p.path}${value}${where}: ${p.message}`;
}

export interface LoadedConfig {
  config: NodeConfig;
  sources: ReadonlyMap<string, { source: Source; origin?: string }>;
  settings: ReadonlyMap<string, Setting<unknown>>;
}

export interface ConfigInputs {
  /** YAML file path (--config). */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** CLI flag values by flag name (without dashes); undefined means not given. */
  flags?: Record<string, unknown>;
}

const SETTINGS = flattenSchema(schema);

/** The key paths of a parsed YAML document, for finding unknown keys. */
function yamlLeaves(value: unknown, known: Set<string>, prefix = ''): [string, unknown][] {
  // An empty section (every key commented out) parses as null.
  if (value === null && prefix !== '' && [...known].some((k) => k.startsWith(prefix))) return [];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [[prefix.slice(0, -1), value]];
  return Object.entries(value).flatMap(([k, v]) =>
    known.has(prefix + k) ? [[prefix + k, v] as [string, unknown]] : yamlLeaves(v, known, `${prefix}${k}.`),
  );
}

function readYaml(file: string): { values: Map<string, unknown>; problems: ConfigProblem[] } {
  const known = new Set(SETTINGS.map(([path]) => path));
  let document: unknown;
  try {
    document = parseYaml(readFileSync(file, 'utf8'));
  } catch (error) {
    return { values: new Map(), problems: [{ path: '(file)', source: 'file', origin: file, message: (error as Error).message }] };
  }
  if (document === null || document === undefined) return { values: new Map(), problems: [] };
  const values = new Map<string, unknown>();
  const problems: ConfigProblem[] = [];
  for (const [path, value] of yamlLeaves(document, known)) {
    if (known.has(path)) values.set(path, value);
    else problems.push({ path: path || '(root)', source: 'file', origin: file, message: 'unknown key' + suggestion(path, known) });
  }
  return { values, problems };
}

function suggestion(path: string, known: Set<string>): string {
  const leaf = path.split('.').at(-1);
  const match = [...known].find((k) => k.split('.').at(-1) === leaf);
  return match ? `; did you mean ${match}?` : '';
}

export function loadConfig(inputs: ConfigInputs = {}): LoadedConfig {
  const env = inputs.env ?? {};
  const fileValues = inputs.file ? readYaml(inputs.file) : { values: new Map<string, unknown>(), problems: [] };
  const problems: ConfigProblem[] = [...fileValues.problems];
  const resolved = new Map<string, unknown>();
  const sources = new Map<string, { source: Source; origin?: string }>();

  for (const [path, s] of SETTINGS) {
    const envName = s.env?.find((name) => env[name] !== undefined && env[name] !== '');
    const flagValue = s.flag ? inputs.flags?.[s.flag] : undefined;
    let raw: unknown;
    let from: { source: Source; origin?: string } = { source: 'default' };
    if (flagValue !== undefined) [raw, from] = [flagValue, { source: 'flag', origin: `--${s.flag}` }];
    else if (envName) [raw, from] = [env[envName], { source: 'env', origin: envName }];
    else if (fileValues.values.has(path)) [raw, from] = [fileValues.values.get(path), { source: 'file', origin: inputs.file! }];

    sources.set(path, from);
    if (from.source === 'default') {
      if (typeof s.default !== 'function') resolved.set(path, s.default);
      continue;
    }
    try {
      resolved.set(path, s.parse(raw));
    } catch (error) {
      if (!(error instanceof ConfigValueError)) throw error;
      problems.push({ path, ...from, value: s.secret ? '<redacted>' : raw, message: `must be ${error.message}` });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  // Derived defaults (paths under data_dir) read settings that are already resolved.
  for (const [path, s] of SETTINGS) {
    if (!resolved.has(path)) resolved.set(path, (s.default as (get: (p: string) => unknown) => unknown)((p) => resolved.get(p)));
  }
  // Keep schema order so printing follows it.
  const ordered = new Map(SETTINGS.map(([path]) => [path, resolved.get(path)]));

  const config = freeze(nest(ordered)) as NodeConfig;
  const crossProblems = crossFieldProblems(config);
  if (crossProblems.length > 0) {
    throw new ConfigError(crossProblems.map(([path, message]) => ({ path, ...sources.get(path)!, message })));
  }
  return { config, sources, settings: new Map(SETTINGS) };
}

function nest(flat: Map<string, unknown>): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [path, value] of flat) {
    const keys = path.split('.');
    let node = root;
    for (const key of keys.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
    node[keys.at(-1)!] = value;
  }
  return root;
}

function freeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) freeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Reads a dotted key path out of a config. */
export function configValue(config: NodeConfig, path: string): unknown {
  return path.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], config);
}
