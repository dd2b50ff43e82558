// The Modelfile parser reads what Ollama's does (quotes, comments, case, typed parameters) and
// rejects what Ollama rejects, naming the line.

import t from 'tap';
import { ModelfileError, modelfileRequest, parseModelfile } from './index.js';

const request = (text: string) => modelfileRequest(parseModelfile(text));

t.test('reads every command, case-insensitively, skipping comments and blank lines', async (t) => {
  const text = [
    '# a comment',
    '',
    'from ./tiny.gguf',
    '  ADAPTER ./lora.gguf',
    'Template {{ .Prompt }}',
    'SYSTEM You are # not a comment',
    'PARAMETER temperature 0.7',
    'LICENSE MIT',
    'message user hi there',
    'MESSAGE assistant "hello!"',
  ].join('\n');
  t.same(parseModelfile(text).commands, [
    { kind: 'from', value: './tiny.gguf', line: 3 },
    { kind: 'adapter', value: './lora.gguf', line: 4 },
    { kind: 'template', value: '{{ .Prompt }}', line: 5 },
    { kind: 'system', value: 'You are # not a comment', line: 6 },
    { kind: 'parameter', name: 'temperature', value: '0.7', line: 7 },
    { kind: 'license', value: 'MIT', line: 8 },
    { kind: 'message', role: 'user', content: 'hi there', line: 9 },
    { kind: 'message', role: 'assistant', content: 'hello!', line: 10 },
  ]);
});

t.test('quoted values span lines; unquoted ones end at the line', async (t) => {
  const text = 'FROM tiny\nTEMPLATE """{{ if .System }}\n  {{ .System }}\n{{ end }}"""\nSYSTEM "two\nlines"\nLICENSE """"""\nSYSTEM   padded value   \n';
  const commands = parseModelfile(text).commands;
  t.same(
    commands.map((c) => ('value' in c ? c.value : '')),
    ['tiny', '{{ if .System }}\n  {{ .System }}\n{{ end }}', 'two\nlines', '', 'padded value'],
  );
  t.same(
    commands.map((c) => c.line),
    [1, 2, 5, 7, 8],
  );
});

t.test('a quote inside a line value does not open a string', async (t) => {
  t.same(request('FROM tiny\nSYSTEM say "hi" please').system, 'say "hi" please');
});

t.test('CRLF line ends, a byte order mark and tabs', async (t) => {
  const r = request('\uFEFFFROM\ttiny\r\nSYSTEM """a\r\nb"""\r\nPARAMETER\tstop\t<|end|>\r\n');
  t.same(r.from, [{ value: 'tiny', line: 1 }]);
  t.equal(r.system, 'a\nb');
  t.same(r.parameters, { stop: ['<|end|>'] });
});

t.test('parameters are typed like Ollama options; stop collects a list', async (t) => {
  const r = request(
    [
      'FROM tiny',
      'PARAMETER num_ctx 4096',
      'PARAMETER temperature .5',
      'PARAMETER top_p 9e-1',
      'PARAMETER seed -3',
      'PARAMETER use_mmap false',
      'PARAMETER stop <|im_end|>',
      'PARAMETER stop "<|im_start|>"',
      'PARAMETER num_ctx 2048',
    ].join('\n'),
  );
  t.same(r.parameters, { num_ctx: 2048, temperature: 0.5, top_p: 0.9, seed: -3, use_mmap: false, stop: ['<|im_end|>', '<|im_start|>'] });
  t.same(r.warnings, []);
});

t.test('deprecated parameters warn and are dropped', async (t) => {
  const r = request('FROM tiny\nPARAMETER mirostat 2\nPARAMETER penalize_newline true');
  t.equal(r.parameters, undefined);
  t.same(r.warnings, ['warning: parameter mirostat is deprecated', 'warning: parameter penalize_newline is deprecated']);
});

t.test('collects licenses, messages and the last template and system', async (t) => {
  const r = request('FROM a\nFROM ./b.gguf\nLICENSE one\nLICENSE """two\nlines"""\nSYSTEM first\nSYSTEM second\nMESSAGE system be brief\nMESSAGE user hi');
  t.same(r.from, [
    { value: 'a', line: 1 },
    { value: './b.gguf', line: 2 },
  ]);
  t.same(r.license, ['one', 'two\nlines']);
  t.equal(r.system, 'second');
  t.same(r.messages, [
    { role: 'system', content: 'be brief' },
    { role: 'user', content: 'hi' },
  ]);
  t.equal(r.template, undefined);
});

t.test('errors name the line', async (t) => {
  const rejects = (text: string, message: string, line: number) =>
    t.throws(() => request(text), new ModelfileError(message, line), JSON.stringify(text));
  const invalidCommand = 'command must be one of "from", "license", "template", "system", "adapter", "parameter", or "message"';
  rejects('FROM tiny\n\nUNKNOWN thing', invalidCommand, 3);
  rejects('FROM tiny\nSYSTEM', invalidCommand, 2);
  rejects('FROM tiny\nFROM: x', invalidCommand, 2);
  rejects('FROM tiny\nMESSAGE tool result', 'message role must be one of "system", "user", or "assistant"', 2);
  rejects('FROM tiny\nMESSAGE User hi', 'message role must be one of "system", "user", or "assistant"', 2);
  rejects('FROM tiny\nPARAMETER temperature', 'PARAMETER needs a name (letters, digits, _) and a value', 2);
  rejects('FROM tiny\nPARAMETER top-k 3', 'PARAMETER needs a name (letters, digits, _) and a value', 2);
  rejects('FROM tiny\nTEMPLATE """{{ .Prompt }}\nmore', 'unexpected end of file: the """ opened here is never closed', 2);
  rejects('FROM tiny\nSYSTEM "open', 'unexpected end of file: the " opened here is never closed', 2);
  rejects('FROM tiny\nPARAMETER Temperature 1', "unknown parameter 'Temperature'", 2);
  rejects('FROM tiny\nPARAMETER num_ctx 4k', "invalid int value '4k' for num_ctx", 2);
  rejects('FROM tiny\nPARAMETER num_ctx 1.5', "invalid int value '1.5' for num_ctx", 2);
  rejects('FROM tiny\nPARAMETER temperature hot', "invalid float value 'hot' for temperature", 2);
  rejects('FROM tiny\nPARAMETER temperature inf', "invalid float value 'inf' for temperature", 2);
  rejects('FROM tiny\nPARAMETER use_mmap yes', "invalid bool value 'yes' for use_mmap", 2);
  rejects('# only a comment\nSYSTEM hi', 'no FROM line', 0);
  rejects('', 'no FROM line', 0);
});
