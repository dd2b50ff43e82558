// The abuse suite: what a client, a model file or a web page can send to take a node down or act
// through it, each sent to a target while the suite watches the node stay up, fast and in bounds.
//
// A target's test file passes setup()/teardown(): a node in a memory-capped child process
// (node.test.ts, part of npm test) or any server at a URL, a node or Ollama itself:
//
//   OLLAMA_ABUSE_URL=http://127.0.0.1:11434 npx tap conformance/abuse/remote.test.ts
//
// Around every case: the node stays up and answers GET /api/version within 100 ms throughout,
// probed every 20 ms from a worker thread on fresh connections and measured over the time an idle
// control server on this machine takes (a busy machine is not a frozen node); for a local node its
// peak RSS (VmHWM) stays under the stated bound and nothing appears outside its data dir. Answers
// are held to Ollama's: a 4xx with {"error": "..."}, or the empty-bodied 403 of its CORS and Host
// checks. A local node that broke an invariant is restarted, so each case stands on its own. The
// fast-check runs print their seed; OLLAMA_ABUSE_SEED=<seed> replays one.
// Models the suite makes are named `abuse-<random>-*` and deleted at the end.

import type { Test } from 'tap';
import { browserCases } from './browser-cases.js';
import { eventLoopCases } from './event-loop-cases.js';
import { fuzzCases } from './fuzz-cases.js';
import { ggufCases } from './gguf-cases.js';
import { AbuseRun, type AbuseHooks } from './harness.js';
import { inputCases } from './input-cases.js';
import { limitCases } from './limit-cases.js';
import { memoryCases } from './memory-cases.js';

export { LATENCY_LIMIT_MS, type AbuseHooks, type AbuseTarget, type LocalNode, type VariantNode, type WatchedNode } from './harness.js';

/** Registers every case on `t`; returns the run, whose `prefix` names the models it makes. */
export function abuseSuite(t: Test, hooks: AbuseHooks): AbuseRun {
  const run = new AbuseRun(t, hooks);
  browserCases(run);
  inputCases(run);
  memoryCases(run);
  eventLoopCases(run);
  ggufCases(run);
  limitCases(run);
  fuzzCases(run);
  return run;
}
