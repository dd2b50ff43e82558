// The tokens a continued generate evaluates: the prompt as it would be, then the answer so far.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, resolveChatWrapper } from 'node-llama-cpp';
import t from 'tap';
import { writeTinyGguf } from '../../conformance/fixtures/tiny-gguf.js';
import { completionPrompt } from './completion-prompt.js';

// node-llama-cpp checks its binary in a forked process on start; tap's loader hooks make that slow.
delete process.env['NODE_OPTIONS'];
process.execArgv.splice(0);

const dir = await mkdtemp(join(tmpdir(), 'completion-prompt-'));
const llama = await getLlama({ gpu: false, build: 'never' });
const model = await llama.loadModel({ modelPath: (await writeTinyGguf(join(dir, 'tiny.gguf'))).path });
t.teardown(async () => {
  await model.dispose();
  await llama.dispose();
  await rm(dir, { recursive: true, force: true });
});
const chatWrapper = () => resolveChatWrapper(model);
const bounds = { contextLength: 512 };

t.test('a continuation is the same prompt followed by the answer so far, in every prompt form', async (t) => {
  const begun = ' the sky scatters blue light';
  const forms = {
    raw: { prompt: 'Why is the sky blue?', raw: true },
    template: { prompt: 'Why is the sky blue?', raw: false, template: '{{ .System }} Q: {{ .Prompt }} A:', system: 'Be brief.' },
    'chat format': { prompt: 'Why is the sky blue?', raw: false },
  };
  for (const [name, input] of Object.entries(forms)) {
    const fresh = await completionPrompt(model, chatWrapper, input, bounds);
    const continued = await completionPrompt(model, chatWrapper, { ...input, continueFrom: begun }, bounds);
    t.strictSame(continued.tokens, [...fresh.tokens, ...model.tokenize(begun, false)], name);
    t.strictSame(continued.stopStrings, fresh.stopStrings, `${name}: the same stops`);
  }
});
