// The tool-call parser against cases from Ollama's tools package tests (tools_test.go): tags from
// templates, calls split across chunks, text before a call, and JSON that is not a call.

import t from 'tap';
import type { RunEvent, ToolCall } from '../../core/contracts/engine.js';
import { toolCallTag, ToolCallParser, withToolCalls } from './tool-calls.js';

const QWEN = '{{if .ToolCalls}}<tool_call>{{range .ToolCalls}}{"name": "{{.Function.Name}}", "arguments": {{.Function.Arguments}}}{{end}}</tool_call>{{end}}';
const DEEPSEEK =
  '{{if .ToolCalls}}<|tool▁calls▁begin|>{{range .ToolCalls}}<|tool▁call▁begin|>function<|tool▁sep|>get_current_weather\n```json\n{"location": "Tokyo"}\n```<|tool▁call▁end|>{{end}}<|tool▁calls▁end|><|end▁of▁sentence|>{{end}}';
const JSON_TEMPLATE = '{{if .ToolCalls}}{{range .ToolCalls}}{"name": "{{.Function.Name}}", "arguments": {{.Function.Arguments}}}{{end}}{{end}}';
const MISTRAL = '{{if .ToolCalls}}[TOOL_CALLS] [{{range .ToolCalls}}{"name": "{{.Function.Name}}", "arguments": {{.Function.Arguments}}}{{end}}][/TOOL_CALLS]{{end}}';
const LIST = '{{if .ToolCalls}}[{{range .ToolCalls}}{"name": "{{.Function.Name}}", "arguments": {{.Function.Arguments}}}{{end}}]{{end}}';
const TOOLS = ['get_temperature', 'get_conditions', 'say_hello', 'say_hello_world', 'get_address', 'add'];

const call = (index: number, name: string, args: Record<string, unknown> = {}): ToolCall => ({ function: { index, name, arguments: args } });

function parse(template: string, inputs: string[]): { content: string; calls: ToolCall[] } {
  const parser = new ToolCallParser(toolCallTag(template), TOOLS);
  let content = '';
  const calls: ToolCall[] = [];
  for (const input of inputs) {
    const scan = parser.add(input);
    content += scan.content;
    calls.push(...scan.calls);
  }
  return { content, calls };
}

t.test('the tag is the text a template writes before a call, or { without one', async (t) => {
  t.equal(toolCallTag(QWEN), '<tool_call>');
  t.equal(toolCallTag(MISTRAL), '[TOOL_CALLS] [');
  t.equal(toolCallTag(DEEPSEEK), '<|tool▁calls▁begin|>', 'the first text, before the range');
  t.equal(toolCallTag(JSON_TEMPLATE), '{');
  t.equal(toolCallTag(LIST), '[');
  t.equal(toolCallTag('{{ .Prompt }}'), '{', 'no .ToolCalls block');
  t.equal(toolCallTag('{{ if .Messages }}{{ else if .Message.ToolCalls }}\n  <call>{{ end }}'), '<call>', 'an else-if branch, blank text skipped');
  t.equal(toolCallTag('{{ if .ToolCalls }}{{ .Content }}<call>{{ end }}'), '{', 'an action before any text ends the search');
  t.equal(toolCallTag('{{ if'), '{', 'a template that does not parse');
});

t.test("Ollama's parser cases", async (t) => {
  const cases: [string, string, string[], string, ToolCall[]][] = [
    ['no tool calls - just text', QWEN, ['Hello, how can I help you today?'], 'Hello, how can I help you today?', []],
    ['empty input', QWEN, [''], '', []],
    ['tool call', QWEN, ['<tool_call>{"name": "get_conditions", "arguments": {"location": "San Francisco"}}</tool_call>'], '', [call(0, 'get_conditions', { location: 'San Francisco' })]],
    ['empty args', QWEN, ['<tool_call>{"name": "get_conditions", "arguments": {}}</tool_call>'], '', [call(0, 'get_conditions')]],
    ['text before tool call', QWEN, ['Let me check the weather. <tool_call>{"name": "get_temperature", "arguments": {"city": "New York"}}</tool_call>'], 'Let me check the weather. ', [call(0, 'get_temperature', { city: 'New York' })]],
    ['qwen no args with text', QWEN, ["Let me say hello to the user. I'll use the say_hello tool. "], "Let me say hello to the user. I'll use the say_hello tool. ", []],
    [
      'two tool calls in a list',
      MISTRAL,
      ['[TOOL_CALLS] [{"name": "get_temperature", "arguments": {"city": "London", "format": "fahrenheit"}}, {"name": "get_conditions", "arguments": {"location": "Tokyo"}}][/TOOL_CALLS]'],
      '',
      [call(0, 'get_temperature', { city: 'London', format: 'fahrenheit' }), call(1, 'get_conditions', { location: 'Tokyo' })],
    ],
    [
      'qwen two tool calls',
      QWEN,
      ['Okay, let\'s call both tools! <tool_call>{"name": "get_temperature", "arguments": {"city": "London", "format": "fahrenheit"}}</tool_call><tool_call>{"name": "get_conditions", "arguments": {"location": "Tokyo"}}</tool_call>'],
      "Okay, let's call both tools! ",
      [call(0, 'get_temperature', { city: 'London', format: 'fahrenheit' }), call(1, 'get_conditions', { location: 'Tokyo' })],
    ],
    [
      'deepseek incremental',
      DEEPSEEK,
      ['<think>Wait', ', I need', ' to call', ' a tool</think><|too', 'l▁calls▁begin', '|>', '<|tool▁call▁begin|>function<|tool▁sep|>get_temperature\n', '```json\n', '{"city": "Tokyo"}\n', '```', '<|tool▁c', 'all▁end|>', '<|tool▁calls▁end|>', '<|end▁of▁sentence|>'],
      '<think>Wait, I need to call a tool</think>',
      [call(0, 'get_temperature', { city: 'Tokyo' })],
    ],
    ['json', JSON_TEMPLATE, ['{', '"name": "get_temperature",', '"arguments": {', '"city": "Tokyo"', '}', '}'], '', [call(0, 'get_temperature', { city: 'Tokyo' })]],
    ['json maybe a tool call', JSON_TEMPLATE, ['{', '"name": "get_temperature",', '"arguments": {'], '', []],
    [
      'json not a tool call',
      JSON_TEMPLATE,
      ['{', '"name": "search", ', '"arguments": {', '"query": "What is the capital of Canada?"', '}', '}'],
      '{"name": "search", "arguments": {"query": "What is the capital of Canada?"}}',
      [],
    ],
    [
      'json object followed by tool call',
      JSON_TEMPLATE,
      ['{"name": "jeff"}', '{"name": "get_conditions", "arguments": {"location": "San Francisco"}}'],
      '{"name": "jeff"}{"name": "get_conditions", "arguments": {"location": "San Francisco"}}',
      [],
    ],
    ['json code', JSON_TEMPLATE, ['for { fmt.Println("hello") }'], 'for { fmt.Println("hello") }', []],
    [
      'list multiple',
      LIST,
      ['[', '{', '"name": "get_temperature", ', '"arguments": {', '"city": "London"', '}', '},', '{', '"name": "get_conditions", ', '"arguments": {', '"location": "Tokyo"', '}', '}]'],
      '',
      [call(0, 'get_temperature', { city: 'London' }), call(1, 'get_conditions', { location: 'Tokyo' })],
    ],
  ];
  for (const [name, template, inputs, content, calls] of cases) t.same(parse(template, inputs), { content, calls }, name);
});

t.test('text streams as it comes, less a tail that may still become the tag', async (t) => {
  const parser = new ToolCallParser('<tool_call>', ['add']);
  t.same(parser.add('Sure, '), { calls: [], content: 'Sure, ' });
  t.same(parser.add('one moment <tool'), { calls: [], content: 'one moment ' });
  t.same(parser.add('box> no'), { calls: [], content: '<toolbox> no' });
  t.same(parser.add(' <tool_call>{"name": "add", "arguments": {"a": 1}}'), { calls: [call(0, 'add', { a: 1 })], content: ' ' });
});

t.test('a tool named by a key, a call wrapped in "function", and arguments as a string', async (t) => {
  t.same(parse(JSON_TEMPLATE, ['{"add": {"a": 1}}']).calls, [call(0, 'add', { a: 1 })]);
  t.same(parse(QWEN, ['<tool_call>{"function": {"name": "add", "arguments": "{\\"a\\": 2}"}}']).calls, [call(0, 'add', { a: 2 })]);
  t.same(parse(QWEN, ['<tool_call>{"name": "add", "parameters": {"a": 3}}']).calls, [call(0, 'add', { a: 3 })]);
  t.same(parse(QWEN, ['<tool_call>{"name": "say_hel', 'lo_world", "arguments": {}}']).calls, [call(0, 'say_hello_world')], 'a name cut in two waits for its end');
});

t.test('withToolCalls streams text and calls as they complete; a bracketed reply that held no call is text at the end', async (t) => {
  const done: RunEvent = { type: 'done', doneReason: 'stop', loadDuration: 0, promptEvalCount: 1, promptEvalDuration: 0, evalCount: 3, evalDuration: 0 };
  async function* reply(...events: RunEvent[]): AsyncGenerator<RunEvent> {
    yield* events;
    yield done;
  }
  const token = (text: string): RunEvent => ({ type: 'token', text });
  const collect = async (events: AsyncIterable<RunEvent>) => {
    const out: RunEvent[] = [];
    for await (const event of events) out.push(event);
    return out;
  };
  t.same(await collect(withToolCalls(reply(token('It is '), token('noon.')), new ToolCallParser('<tool_call>', ['now']))), [token('It is '), token('noon.'), done]);
  t.same(
    await collect(withToolCalls(reply(token('Checking. '), { type: 'thinking', text: 'hm' }, token('<tool_call>{"name":'), token('"now","arguments":{}}')), new ToolCallParser('<tool_call>', ['now']))),
    [token('Checking. '), { type: 'thinking', text: 'hm' }, { type: 'tool_calls', calls: [call(0, 'now')] }, done],
  );
  t.same(await collect(withToolCalls(reply(token('{"name":'), token('"later"')), new ToolCallParser('{', ['now']))), [token('{"name":"later"'), done]);
  t.same(await collect(withToolCalls(reply(), new ToolCallParser('{', ['now']))), [done]);
});
