// The child process of a model trial: loads the file on the CPU, tokenizes every byte value and
// evaluates a few tokens. Exit 0 means llama.cpp took it; a crash here costs only this process.

import { getLlama, LlamaLogLevel } from 'node-llama-cpp';

/** Every byte value in one text, so a vocabulary that cannot spell some byte fails here. */
const SAMPLE = `hello ${Array.from({ length: 0x80 }, (_, code) => String.fromCharCode(code)).join('')} ÿ€中文🙂`;

const [modelPath] = process.argv.slice(2);
const llama = await getLlama({ gpu: false, build: 'never', progressLogs: false, logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath: modelPath!, gpuLayers: 0 });
const context = await model.createContext({ contextSize: 256, sequences: 1, threads: 1 });
const tokens = model.tokenize(SAMPLE, true);
const sequence = context.getSequence();
for await (const token of sequence.evaluate(tokens.slice(-16))) {
  model.detokenize([token]);
  break;
}
await context.dispose();
await model.dispose();
await llama.dispose();
process.exit(0);
