// `run MODEL [PROMPT]`: streams a chat reply to stdout. A prompt comes from the arguments and from
// stdin when it is not a terminal; with neither and a terminal, a prompt loop keeps the conversation.

import { createInterface, type Interface } from 'node:readline';
import { text } from 'node:stream/consumers';
import { call, callJson, ClientError, ndjson } from './http.js';
import { goDuration } from './format.js';
import type { ShowResponse } from './show.js';

export interface RunFlags {
  format?: string;
  keepalive?: string;
  verbose?: boolean;
}

interface Message {
  role: 'user' | 'assistant';
  content: string;
}

interface ChatChunk {
  message?: { content?: string };
  done?: boolean;
  total_duration?: number;
  load_duration?: number;
  prompt_eval_count?: number;
  prompt_eval_duration?: number;
  eval_count?: number;
  eval_duration?: number;
}

interface RunSettings {
  model: string;
  format?: unknown;
  keepAlive?: string;
  verbose: boolean;
}

const GO_DURATION = /^[-+]?(0|(\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$/;

function settingsFrom(model: string, flags: RunFlags): RunSettings {
  const settings: RunSettings = { model, verbose: flags.verbose ?? false };
  if (flags.format) {
    if (flags.format === 'json') settings.format = 'json';
    else {
      try {
        settings.format = JSON.parse(flags.format);
      } catch {
        throw new ClientError(`invalid --format '${flags.format}': use json or a JSON schema`);
      }
    }
  }
  if (flags.keepalive !== undefined) {
    if (!GO_DURATION.test(flags.keepalive)) throw new ClientError(`time: invalid duration "${flags.keepalive}"`);
    settings.keepAlive = flags.keepalive;
  }
  return settings;
}

/** Timings of the last reply, on stderr, as `ollama run --verbose` prints them. */
function summary(done: ChatChunk): string {
  const lines: string[] = [];
  const rate = (count: number, ns: number) => `${(count / (ns / 1e9)).toFixed(2)} tokens/s`;
  if (done.total_duration) lines.push(`total duration:       ${goDuration(done.total_duration)}`);
  if (done.load_duration) lines.push(`load duration:        ${goDuration(done.load_duration)}`);
  if (done.prompt_eval_count) lines.push(`prompt eval count:    ${done.prompt_eval_count} token(s)`);
  if (done.prompt_eval_duration) {
    lines.push(`prompt eval duration: ${goDuration(done.prompt_eval_duration)}`);
    lines.push(`prompt eval rate:     ${rate(done.prompt_eval_count ?? 0, done.prompt_eval_duration)}`);
  }
  if (done.eval_count) lines.push(`eval count:           ${done.eval_count} token(s)`);
  if (done.eval_duration) {
    lines.push(`eval duration:        ${goDuration(done.eval_duration)}`);
    lines.push(`eval rate:            ${rate(done.eval_count ?? 0, done.eval_duration)}`);
  }
  return lines.map((line) => line + '\n').join('');
}

/** Streams one reply to stdout; undefined when the user interrupted it. */
async function chat(settings: RunSettings, messages: Message[], signal: AbortSignal): Promise<string | undefined> {
  const body = {
    model: settings.model,
    messages,
    stream: true,
    ...(settings.format !== undefined ? { format: settings.format } : {}),
    ...(settings.keepAlive !== undefined ? { keep_alive: settings.keepAlive } : {}),
  };
  let reply = '';
  let done: ChatChunk | undefined;
  try {
    for await (const chunk of ndjson<ChatChunk>(await call('/api/chat', { body, signal }))) {
      const content = chunk.message?.content ?? '';
      reply += content;
      process.stdout.write(content);
      if (chunk.done) done = chunk;
    }
  } catch (error) {
    if (!signal.aborted) throw error;
    // Keeps what was printed of the interrupted reply above the next prompt.
    process.stdout.write('\n');
    return undefined;
  }
  process.stdout.write('\n\n');
  if (settings.verbose && done) process.stderr.write(summary(done));
  return reply;
}

/** Loads the model without generating, as an empty generate request does. */
async function load(settings: RunSettings): Promise<void> {
  const body = { model: settings.model, stream: false, ...(settings.keepAlive !== undefined ? { keep_alive: settings.keepAlive } : {}) };
  await (await call('/api/generate', { body })).arrayBuffer();
}

/** Resolves with the line typed, or undefined once input ends (Ctrl+D). */
function ask(rl: Interface, prompt: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const closed = () => resolve(undefined);
    rl.once('close', closed);
    rl.question(prompt, (answer) => {
      rl.off('close', closed);
      resolve(answer);
    });
  });
}

const HELP = `Available Commands:
  /clear          Clear session context
  /bye            Exit
  /?, /help       Help for a command

Use """ to begin a multi-line message.

`;

/** A message, reading on while a `"""` block stays open. */
async function readMessage(rl: Interface): Promise<string | undefined> {
  const first = await ask(rl, '>>> ');
  if (first === undefined || !first.startsWith('"""')) return first;
  let message = first.slice(3);
  while (!message.endsWith('"""')) {
    const next = await ask(rl, '... ');
    if (next === undefined) return undefined;
    message += '\n' + next;
  }
  return message.slice(0, -3);
}

async function interactive(settings: RunSettings, info: ShowResponse): Promise<void> {
  await load(settings);
  for (const message of info.messages ?? []) {
    if (message.role === 'user') process.stdout.write(`>>> ${message.content}\n`);
    else if (message.role === 'assistant') process.stdout.write(`${message.content}\n\n`);
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
  let generating: AbortController | undefined;
  rl.on('SIGINT', () => {
    if (generating) generating.abort();
    else {
      rl.write(null, { ctrl: true, name: 'u' });
      process.stdout.write('\nUse Ctrl + d or /bye to exit.\n');
      rl.prompt();
    }
  });
  const messages: Message[] = [];
  try {
    for (;;) {
      const line = await readMessage(rl);
      if (line === undefined) {
        process.stdout.write('\n');
        return;
      }
      const command = line.trim();
      if (command === '') continue;
      if (command === '/bye') return;
      if (command === '/clear') {
        messages.length = 0;
        process.stdout.write('Cleared session context\n');
        continue;
      }
      if (command === '/?' || command === '/help') {
        process.stdout.write(HELP);
        continue;
      }
      if (command.startsWith('/')) {
        process.stdout.write(`Unknown command '${command.split(/\s/)[0]}'. Type /? for help\n`);
        continue;
      }
      messages.push({ role: 'user', content: line });
      generating = new AbortController();
      const reply = await chat(settings, messages, generating.signal);
      generating = undefined;
      if (reply !== undefined) messages.push({ role: 'assistant', content: reply });
    }
  } finally {
    rl.close();
  }
}

export async function runCommand(model: string, words: string[], flags: RunFlags): Promise<void> {
  const settings = settingsFrom(model, flags);
  const info = await callJson<ShowResponse>('/api/show', { body: { model } });
  const parts = [...words];
  if (!process.stdin.isTTY) {
    const piped = await text(process.stdin);
    if (piped !== '') parts.unshift(piped);
  }
  const prompt = parts.join(' ');
  if (parts.length === 0 && process.stdin.isTTY && process.stdout.isTTY) return interactive(settings, info);
  if (prompt === '') return load(settings);
  const interrupt = new AbortController();
  const onSigint = () => interrupt.abort();
  process.once('SIGINT', onSigint);
  try {
    await chat(settings, [{ role: 'user', content: prompt }], interrupt.signal);
  } finally {
    process.off('SIGINT', onSigint);
  }
}
