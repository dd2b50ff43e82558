// A config key's description: how to parse it, its default, where it may come from, and why it
// exists. The schema is a tree of these; the NodeConfig type is derived from it.

import { ConfigValueError, formatDuration } from './values.js';

export type Source = 'default' | 'file' | 'env' | 'flag';

export interface Setting<T> {
  readonly setting: true;
  /** Parses a raw value; throws ConfigValueError describing what is allowed. */
  parse(raw: unknown): T;
  /** The default, or a function of the non-derived settings (e.g. a path under data_dir). */
  readonly default: T | ((get: (path: string) => unknown) => T);
  /** Environment variables, highest precedence first. */
  readonly env?: readonly string[];
  /** The `start` flag that sets it, without dashes. */
  readonly flag?: string;
  /** One line on why the key exists; printed in config/node.yaml. */
  readonly why: string;
  /** Never printed or logged in full. */
  readonly secret?: boolean;
  /** How `config print` and node.yaml show a value. */
  format?(value: T): unknown;
}

type SettingOptions<T> = Omit<Setting<T>, 'setting' | 'parse'>;

export function setting<T>(parse: (raw: unknown) => T, options: SettingOptions<T>): Setting<T> {
  return { setting: true, parse, ...options };
}

export function durationSetting(parse: (raw: unknown) => number, options: SettingOptions<number>): Setting<number> {
  return setting(parse, { format: formatDuration, ...options });
}

export function isSetting(value: unknown): value is Setting<unknown> {
  return typeof value === 'object' && value !== null && (value as Setting<unknown>).setting === true;
}

export interface SchemaTree {
  readonly [key: string]: Setting<unknown> | SchemaTree;
}

export type ConfigOf<S> = {
  readonly [K in keyof S]: S[K] extends Setting<infer T> ? T : ConfigOf<S[K]>;
};

/** Every setting with its dotted path, in schema order. */
export function flattenSchema(tree: SchemaTree, prefix = ''): [string, Setting<unknown>][] {
  return Object.entries(tree).flatMap(([key, node]) =>
    isSetting(node) ? [[prefix + key, node] as [string, Setting<unknown>]] : flattenSchema(node, `${prefix}${key}.`),
  );
}

export { ConfigValueError };
