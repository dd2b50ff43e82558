// The abuse suite against a server already running at OLLAMA_ABUSE_URL: a node or Ollama itself.
//
//   OLLAMA_ABUSE_URL=http://127.0.0.1:11434 npx tap conformance/abuse/remote.test.ts
//
// It uploads the tiny GGUF there as a model of its own name and deletes what it made at the end.
// Only the URL is known, so the checks of memory, files and the process are the local suite's.
// OLLAMA_ABUSE_MAX_QUEUE and OLLAMA_ABUSE_NUM_PARALLEL state the server's OLLAMA_MAX_QUEUE and
// OLLAMA_NUM_PARALLEL (Ollama's defaults, 512 and 1, when unset); OLLAMA_ABUSE_LOOPBACK=false says
// it does not listen on loopback, where Ollama makes no Host checks. Only ever aim it at a server
// of your own: the cases are attacks.

import t from 'tap';
import { prepareTinyModel } from '../ollama-api/index.js';
import { abuseSuite } from './index.js';

const url = process.env['OLLAMA_ABUSE_URL']?.replace(/\/+$/, '');
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

if (url === undefined || url === '') {
  // An optional target: with no server named this file is a stated skip, not a failure, CI included.
  t.plan(0, 'OLLAMA_ABUSE_URL is not set; set it to a server of your own to run the abuse suite against it');
} else {
  const run = abuseSuite(t, {
    async setup() {
      const model = `${run.prefix}-tiny`;
      await prepareTinyModel(url, model);
      return {
        url,
        model,
        maxQueue: Number(process.env['OLLAMA_ABUSE_MAX_QUEUE'] || 512),
        numParallel: Number(process.env['OLLAMA_ABUSE_NUM_PARALLEL'] || 1),
        loopbackListener: process.env['OLLAMA_ABUSE_LOOPBACK'] !== 'false' && LOOPBACK.test(new URL(url).hostname),
      };
    },
  });
}
