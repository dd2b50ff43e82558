// Reads request bodies field by field with the type checks Go's encoding/json makes in Ollama,
// so a wrong type is a 400 worded the way Ollama words it.

import { badRequest } from '../../errors.js';

export type JsonObject = Record<string, unknown>;

/** The JSON kind Go names in its unmarshal errors. */
export function jsonKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'boolean') return 'bool';
  return typeof value === 'object' ? 'object' : typeof value;
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The whole body as an object; `goType` is the Ollama request type, e.g. `GenerateRequest`. */
export function requestFields(body: unknown, goType: string): Fields {
  if (body === undefined) throw badRequest('missing request body');
  if (body === null) return new Fields({}, goType);
  if (!isObject(body)) throw badRequest(`json: cannot unmarshal ${jsonKind(body)} into Go value of type api.${goType}`);
  return new Fields(body, goType);
}

/** Typed access to one JSON object; null reads as absent, as it does in Go. */
export class Fields {
  constructor(
    readonly values: JsonObject,
    private readonly path: string,
  ) {}

  private wrongType(name: string, value: unknown, goType: string, detail = ''): Error {
    const kind = jsonKind(value);
    return badRequest(`json: cannot unmarshal ${kind}${detail} into Go struct field ${this.path}.${name} of type ${goType}`);
  }

  raw(name: string): unknown {
    const value = this.values[name];
    return value === null ? undefined : value;
  }

  string(name: string): string | undefined {
    const value = this.raw(name);
    if (value === undefined || typeof value === 'string') return value;
    throw this.wrongType(name, value, 'string');
  }

  boolean(name: string): boolean | undefined {
    const value = this.raw(name);
    if (value === undefined || typeof value === 'boolean') return value;
    throw this.wrongType(name, value, 'bool');
  }

  integer(name: string): number | undefined {
    const value = this.raw(name);
    if (value === undefined || Number.isSafeInteger(value)) return value as number | undefined;
    throw this.wrongType(name, value, 'int', typeof value === 'number' ? ` ${value}` : '');
  }

  integers(name: string): number[] | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) throw this.wrongType(name, value, '[]int');
    for (const item of value) {
      if (!Number.isSafeInteger(item)) throw this.wrongType(name, item, 'int', typeof item === 'number' ? ` ${item}` : '');
    }
    return value as number[];
  }

  strings(name: string): string[] | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) throw this.wrongType(name, value, '[]string');
    for (const item of value) if (typeof item !== 'string') throw this.wrongType(name, item, 'string');
    return value as string[];
  }

  object(name: string, goType = 'map[string]interface {}'): JsonObject | undefined {
    const value = this.raw(name);
    if (value === undefined || isObject(value)) return value;
    throw this.wrongType(name, value, goType);
  }

  stringMap(name: string): Record<string, string> | undefined {
    const value = this.object(name, 'map[string]string');
    if (value === undefined) return undefined;
    for (const item of Object.values(value)) if (typeof item !== 'string') throw this.wrongType(name, item, 'string');
    return value as Record<string, string>;
  }

  /** An array of objects, each read with its own Fields (e.g. messages). */
  objects(name: string, goType: string): Fields[] | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) throw this.wrongType(name, value, `[]api.${goType}`);
    return value.map((item) => {
      if (item === null) return new Fields({}, `${this.path}.${name}`);
      if (!isObject(item)) throw this.wrongType(name, item, `api.${goType}`);
      return new Fields(item, `${this.path}.${name}`);
    });
  }
}
