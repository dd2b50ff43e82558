// What users and files hand a node, fuzzed: model names, Modelfiles, config files and variables,
// and the commands the cluster state machine applies from the log. Bad input is refused with the
// product's own error naming it; nothing else is thrown, and what is accepted holds its shape.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import t from 'tap';
import { stringify } from 'yaml';
import { CLUSTER_COMMANDS, clusterStateMachine, type ClusterState } from '../../core/cluster/state-machine.js';
import { ConfigError, loadConfig } from '../../core/config/load.js';
import { flattenSchema } from '../../core/config/setting.js';
import { schema } from '../../core/config/schema.js';
import { ProductError } from '../../core/errors.js';
import { ModelfileError, parseModelfile } from '../../core/modelfile/parse.js';
import { modelfileRequest } from '../../core/modelfile/request.js';
import { formatModelName, InvalidModelNameError, parseModelName } from '../../core/models/name.js';
import { anyJson, fuzz, mutatedJson } from '../fixtures/fuzz.js';

/** Runs `f`; an error that is not one of `expected` fails the property. */
function refusesOnlyWith(f: () => void, ...expected: (abstract new (...args: never[]) => Error)[]): void {
  try {
    f();
  } catch (error) {
    if (expected.some((kind) => error instanceof kind)) return;
    throw new Error(`threw ${(error as Error)?.name}: ${(error as Error)?.message}`);
  }
}

const nameParts = fc.constantFrom('', 'a', 'tiny', 'Llama3.2', 'x'.repeat(90), '..', '.', '-', '_a', 'a_b', 'ü', ' ', '/', ':', '@', 'sha256:' + 'a'.repeat(64), '%2F', '\u0000');
const modelNames = fc.oneof(fc.string({ maxLength: 80 }), fc.array(fc.tuple(nameParts, fc.constantFrom('/', ':', '')), { maxLength: 6 }).map((parts) => parts.map(([part, separator]) => part + separator).join('')));

t.test('model names', async (t) => {
  fuzz(t, 'parse or InvalidModelNameError; an accepted name formats to one that parses the same', modelNames, (input) =>
    refusesOnlyWith(() => {
      const name = parseModelName(input);
      const again = parseModelName(formatModelName(name));
      if (!isDeepStrictEqual({ ...again }, { ...name })) throw new Error(`${JSON.stringify(input)} → ${formatModelName(name)} → ${formatModelName(again)}`);
    }, InvalidModelNameError),
  );
});

const modelfileLine = fc.oneof(
  fc.constantFrom('FROM tiny', 'FROM ./model.gguf', 'FROM sha256:' + 'a'.repeat(64), 'PARAMETER temperature 0.7', 'PARAMETER stop "<|end|>"', 'PARAMETER num_ctx 99999999999999999999', 'SYSTEM """', '"""', 'TEMPLATE "{{ .Prompt }}"', 'MESSAGE user hi', 'MESSAGE robot hi', 'ADAPTER ./a.gguf', 'LICENSE """MIT', 'REQUIRES 0.5', '# comment', ''),
  fc.tuple(fc.constantFrom('FROM', 'PARAMETER', 'SYSTEM', 'TEMPLATE', 'MESSAGE', 'ADAPTER', 'LICENSE', 'from', 'parameter'), fc.string({ maxLength: 40 })).map(([command, rest]) => `${command} ${rest}`),
  fc.string({ maxLength: 60 }),
);

t.test('Modelfiles', async (t) => {
  fuzz(t, 'parse and check, or a ModelfileError / ProductError', fc.array(modelfileLine, { maxLength: 12 }).map((lines) => lines.join('\n')), (text) =>
    refusesOnlyWith(() => modelfileRequest(parseModelfile(text)), ModelfileError, ProductError),
  );
});

t.test('config files and variables', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'od-fuzz-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'node.yaml');
  const settings = flattenSchema(schema);
  const keys = settings.map(([path]) => path);
  const envNames = settings.flatMap(([, setting]) => setting.env ?? []);
  const document = fc.dictionary(fc.constantFrom(...keys, 'api.nope', 'scheduler', 'p2p'), anyJson, { maxKeys: 4 }).map((flat) => {
    const tree: Record<string, unknown> = {};
    for (const [path, value] of Object.entries(flat)) {
      const parts = path.split('.');
      let node = tree;
      for (const part of parts.slice(0, -1)) node = (node[part] = typeof node[part] === 'object' && node[part] !== null ? node[part] : {}) as Record<string, unknown>;
      node[parts.at(-1)!] = value;
    }
    return stringify(tree);
  });
  const load = (text: string) =>
    refusesOnlyWith(() => {
      writeFileSync(file, text);
      loadConfig({ file, env: {} });
    }, ConfigError);
  fuzz(t, 'YAML documents of known and unknown keys with any values', document, load, { numRuns: 400 });
  fuzz(t, 'any text as the file', fc.string({ maxLength: 200 }), load, { numRuns: 300 });
  fuzz(t, 'any value in any OLLAMA_* variable', fc.dictionary(fc.constantFrom(...envNames), fc.string({ maxLength: 40 }), { maxKeys: 3 }), (env) =>
    refusesOnlyWith(() => loadConfig({ env }), ConfigError), { numRuns: 400 });
});

t.test('cluster state machine commands', async (t) => {
  const validCommand = fc.oneof(
    fc.record({ type: fc.constant('model.set'), payload: fc.record({ name: fc.constantFrom('tiny:latest', 'a/b:c'), digest: fc.constant('sha256:' + 'b'.repeat(64)), replicas: fc.nat({ max: 5 }) }) }),
    fc.record({ type: fc.constant('placement.set'), payload: fc.record({ model: fc.constant('tiny:latest'), nodes: fc.array(fc.constantFrom('n1', 'n2', 'n3'), { maxLength: 3 }) }) }),
    fc.record({ type: fc.constant('member.admit'), payload: fc.record({ id: fc.constantFrom('n1', 'n2'), name: fc.constantFrom('node-1', 'node-2') }) }),
    fc.record({ type: fc.constant('key.create'), payload: fc.record({ id: fc.constantFrom('k1', 'k2'), hash: fc.constant('c'.repeat(64)), role: fc.constant('user'), name: fc.constant('ci'), createdAt: fc.constant('2026-12-03T00:00:00Z') }) }),
  );
  const command = fc.oneof(mutatedJson(validCommand), fc.record({ type: fc.oneof(fc.constantFrom(...CLUSTER_COMMANDS), fc.string()), payload: anyJson }));
  fuzz(t, 'any command sequence: never a throw; replicas agree; a snapshot restores the same state', fc.array(command, { maxLength: 20 }), (commands) => {
    const apply = () => {
      let state: ClusterState = clusterStateMachine.initial();
      commands.forEach((c, i) => {
        const { type, payload } = (c ?? {}) as { type?: unknown; payload?: unknown };
        state = clusterStateMachine.apply(state, { type: String(type), payload }, i + 1).state;
      });
      return state;
    };
    const [a, b] = [apply(), apply()];
    const snapshot = Buffer.from(clusterStateMachine.snapshot(a));
    if (!snapshot.equals(Buffer.from(clusterStateMachine.snapshot(b)))) throw new Error('two members applying the same commands disagree');
    if (!snapshot.equals(Buffer.from(clusterStateMachine.snapshot(clusterStateMachine.restore(snapshot))))) throw new Error('a restored snapshot differs');
  }, { timeMs: 1500 });
});
