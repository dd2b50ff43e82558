import t from 'tap';
import { prng } from '../conformance/fixtures/prng.js';
import { arrivals, generateWorkload, requestFor, type WorkloadOptions } from './workload.js';

const SEED = Number(process.env.WORKLOAD_TEST_SEED ?? 20261203);
t.comment(`seed ${SEED} (WORKLOAD_TEST_SEED replays it)`);

const OPTIONS: WorkloadOptions = {
  seed: SEED,
  chatUsers: 30,
  oneShotUsers: 20,
  turns: { min: 2, max: 5 },
  systemPrompts: 3,
  systemPromptWords: { min: 1000, max: 3000 },
  userMessageWords: { min: 5, max: 40 },
  answerTokens: { min: 8, max: 32 },
  thinkMs: { min: 100, max: 900 },
  arrivalsPerSecond: 4,
  bursts: { everyMs: 5000, lengthMs: 1000, factor: 6 },
  chatModels: ['chat'],
  oneShotModels: ['chat', 'code'],
  numCtx: 8192,
};

t.test('the same seed gives the same workload; another seed another one', async (t) => {
  const workload = generateWorkload(OPTIONS);
  t.same(generateWorkload({ ...OPTIONS }), workload, 'same seed, same workload');
  const other = generateWorkload({ ...OPTIONS, seed: SEED + 1 });
  t.notSame(other.systemPrompts, workload.systemPrompts, 'other system prompts');
  t.notSame(other.scripts.map((s) => s.startAt), workload.scripts.map((s) => s.startAt), 'other arrival times');
  t.notSame(other.scripts.map((s) => s.turns), workload.scripts.map((s) => s.turns), 'other turns');
});

t.test('shapes are as configured', async (t) => {
  const { systemPrompts, scripts } = generateWorkload(OPTIONS);
  t.equal(systemPrompts.length, 3, 'three shared system prompts');
  for (const prompt of systemPrompts) {
    const words = prompt.split(' ').length;
    t.ok(words >= 1000 && words <= 3000, `system prompt of ${words} words`);
  }
  t.equal(new Set(systemPrompts).size, 3, 'distinct system prompts');
  const chats = scripts.filter((s) => s.kind === 'chat');
  const oneShots = scripts.filter((s) => s.kind === 'generate');
  t.equal(chats.length, 30);
  t.equal(oneShots.length, 20);
  t.equal(new Set(scripts.map((s) => s.user)).size, 50, 'one script per user');
  t.ok(chats.every((s) => s.turns.length >= 2 && s.turns.length <= 5), 'chats have 2..5 turns');
  t.ok(new Set(chats.map((s) => s.turns.length)).size > 1, 'chats differ in length');
  t.ok(oneShots.every((s) => s.turns.length === 1), 'one-shot prompts have one turn');
  t.ok(chats.every((s) => s.system !== null && s.system < 3), 'every chat has a shared system prompt');
  const shares = new Map<number, number>();
  for (const s of chats) shares.set(s.system!, (shares.get(s.system!) ?? 0) + 1);
  t.ok([...shares.values()].some((n) => n > 1), 'chats share system prompts');
  t.ok(scripts.every((s, i) => i === 0 || s.startAt >= scripts[i - 1]!.startAt), 'scripts sorted by arrival');
  t.ok(scripts.every((s) => s.turns.every((turn, i) => (i === 0 ? turn.pauseMs === 0 : turn.pauseMs >= 100 && turn.pauseMs <= 900))), 'pauses within thinkMs');
  t.ok(oneShots.every((s) => ['chat', 'code'].includes(s.model)) && chats.every((s) => s.model === 'chat'), 'models as configured');
});

t.test('a chat turn carries the earlier turns with their real answers, after the system prompt', async (t) => {
  const workload = generateWorkload(OPTIONS);
  const script = workload.scripts.find((s) => s.kind === 'chat' && s.turns.length >= 3)!;
  const first = requestFor(workload, script, 0, [], 0);
  t.equal(first.at, script.startAt, 'the first turn is due at arrival');
  t.equal(first.path, '/api/chat');
  const third = requestFor(workload, script, 2, ['answer one', 'answer two'], 12_345);
  t.equal(third.at, 12_345 + script.turns[2]!.pauseMs, 'a later turn is due a pause after the last answer');
  t.same((third.body as { messages: unknown }).messages, [
    { role: 'system', content: workload.systemPrompts[script.system!] },
    { role: 'user', content: script.turns[0]!.content },
    { role: 'assistant', content: 'answer one' },
    { role: 'user', content: script.turns[1]!.content },
    { role: 'assistant', content: 'answer two' },
    { role: 'user', content: script.turns[2]!.content },
  ]);
  t.match(third.body, { model: 'chat', keep_alive: -1, options: { num_predict: script.turns[2]!.numPredict, num_ctx: 8192 } });
  t.throws(() => requestFor(workload, script, 2, ['only one'], 0), /want 2 earlier answers/);
  t.throws(() => requestFor(workload, script, script.turns.length, [], 0), /has no turn/);
  const oneShot = workload.scripts.find((s) => s.kind === 'generate')!;
  const generate = requestFor(workload, oneShot, 0, [], 0);
  t.equal(generate.path, '/api/generate');
  t.equal((generate.body as { prompt: string }).prompt, oneShot.turns[0]!.content);
});

t.test('arrivals come faster inside bursts', async (t) => {
  const bursts = { everyMs: 10_000, lengthMs: 2000, factor: 8 };
  const times = arrivals(prng(SEED), 4000, 2, bursts);
  t.ok(times.every((at, i) => i === 0 || at >= times[i - 1]!), 'in order');
  const inside = times.filter((at) => at % bursts.everyMs < bursts.lengthMs).length;
  // Per 10 s: 2 s at 16/s (32) and 8 s at 2/s (16): two thirds of the arrivals fall in bursts.
  t.ok(Math.abs(inside / times.length - 2 / 3) < 0.05, `${inside} of ${times.length} inside bursts`);
  const steady = arrivals(prng(SEED), 4000, 2, { everyMs: 0, lengthMs: 0, factor: 1 });
  const meanGapMs = steady.at(-1)! / steady.length;
  t.ok(Math.abs(meanGapMs - 500) < 30, `mean gap ${meanGapMs.toFixed(0)} ms at 2/s`);
});

t.test('bad options are refused by name', async (t) => {
  t.throws(() => generateWorkload({ ...OPTIONS, turns: { min: 3, max: 2 } }), /workload turns/);
  t.throws(() => generateWorkload({ ...OPTIONS, turns: { min: 0, max: 2 } }), /workload turns\.min/);
  t.throws(() => generateWorkload({ ...OPTIONS, arrivalsPerSecond: 0 }), /arrivalsPerSecond/);
  t.throws(() => generateWorkload({ ...OPTIONS, chatModels: [] }), /chatModels/);
});
