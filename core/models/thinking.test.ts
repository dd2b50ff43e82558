// Thinking against cases from Ollama's thinking package tests (parser_test.go, template_test.go):
// the streaming split, the tags a template implies, and what `think` values mean.

import t from 'tap';
import type { RunEvent, ThinkValue } from '../contracts/engine.js';
import { chatTemplateThinks, inferThinkingTags, promptOpensThinking, splitThinking, ThinkingParser, thinkingEnabled, thinkLevel } from './thinking.js';

const TAGS = { opening: '<think>', closing: '</think>' };

t.test('whole texts split at the first thinking block, only one that leads', async (t) => {
  const cases: [string, string, string][] = [
    ['<think> internal </think> world', 'internal ', 'world'],
    ['<think>a</think><think>b</think>c', 'a', '<think>b</think>c'],
    ['no think', '', 'no think'],
  ];
  for (const [input, thinking, content] of cases) t.same(new ThinkingParser(TAGS).add(input), { thinking, content }, input);
});

t.test('streamed steps give what is unambiguous at once', async (t) => {
  const cases: [string, [string, string, string][]][] = [
    ['content without a thinking tag', [['  abc', '', '  abc'], ['def', '', 'def']]],
    ['content before a thinking tag nerfs the thinking tag', [['  abc <think>def</think> ghi', '', '  abc <think>def</think> ghi']]],
    ['building up a thinking tag partially', [['  <th', '', ''], ['in', '', ''], ['k>a', 'a', '']]],
    ['partial closing tag', [['<think>abc</th', 'abc', ''], ['ink>def', '', 'def']]],
    ['partial closing tag fakeout', [['<think>abc</th', 'abc', ''], ['ing>def', '</thing>def', ''], ['ghi</thi', 'ghi', ''], ['nk>jkl', '', 'jkl']]],
    ['whitespace after thinking tag', [['  <think>abc</think>\n\ndef', 'abc', 'def']]],
    ['whitespace after thinking tag (incremental)', [['  <think>abc</think>', 'abc', ''], ['\n\ndef', '', 'def']]],
    ['whitespace after thinking tag with content and more whitespace', [['  <think>abc</think>\n\ndef ', 'abc', 'def '], [' ghi', '', ' ghi']]],
    ['token by token', [['<think>', '', ''], ['\n', '', ''], ['</think>', '', ''], ['\n\n', '', ''], ['Hi', '', 'Hi'], [' there', '', ' there']]],
    ['leading thinking whitespace', [['  <think>   \t ', '', ''], ['  these are some ', 'these are some ', ''], ['thoughts </think>  ', 'thoughts ', ''], ['  more content', '', 'more content']]],
  ];
  for (const [name, steps] of cases) {
    const parser = new ThinkingParser(TAGS);
    steps.forEach(([input, thinking, content], i) => t.same(parser.add(input), { thinking, content }, `${name}, step ${i}`));
  }
});

t.test('a prompt that opened the tag starts the output inside it; flush gives back what was held', async (t) => {
  t.ok(promptOpensThinking('<|im_start|>assistant\n<think>\n', TAGS));
  t.notOk(promptOpensThinking('<|im_start|>assistant\n<think>\n\n</think>\n\n', TAGS));
  const opened = new ThinkingParser(TAGS, true);
  t.same(opened.add('deep thought</th'), { thinking: 'deep thought', content: '' });
  t.same(opened.flush(), { thinking: '</th', content: '' }, 'a tag that never completed is thinking after all');
  const plain = new ThinkingParser(TAGS);
  t.same(plain.add('<thi'), { thinking: '', content: '' });
  t.same(plain.flush(), { thinking: '', content: '<thi' }, 'a reply that only looked like a tag is the answer');
});

t.test('splitThinking turns a run into thinking and token events', async (t) => {
  const done: RunEvent = { type: 'done', doneReason: 'stop', loadDuration: 0, promptEvalCount: 1, promptEvalDuration: 0, evalCount: 3, evalDuration: 0 };
  async function* run(): AsyncGenerator<RunEvent> {
    for (const text of ['<think>a', 'b</think> ', 'c']) yield { type: 'token', text };
    yield { type: 'tool_calls', calls: [] };
    yield done;
  }
  const out: RunEvent[] = [];
  for await (const event of splitThinking(run(), new ThinkingParser(TAGS))) out.push(event);
  t.same(out, [
    { type: 'thinking', text: 'a' },
    { type: 'thinking', text: 'b' },
    { type: 'token', text: 'c' },
    { type: 'tool_calls', calls: [] },
    done,
  ]);
});

t.test('the tags a template puts around .Thinking in a range over .Messages', async (t) => {
  const cases: [string, string, [string, string] | undefined][] = [
    [
      'basic',
      `
			{{ if .Thinking}}
				/think
			{{ end }}
			{{- range $i, $_ := .Messages }}
				{{- $last := eq (len (slice $.Messages $i)) 1 -}}
				{{ if and $last .Thinking }}
					<think>{{ .Thinking }}</think>
				{{ end }}
			{{ end }}
		`,
      ['<think>', '</think>'],
    ],
    [
      'doubly nested range',
      `
			{{- range $i, $_ := .Messages }}
				{{- range $j, $_ := .NotMessages }}
					{{ if .Thinking }}
						<think>{{ .Thinking }}</think>
					{{ end }}
				{{ end }}
			{{ end }}
		`,
      undefined,
    ],
    [
      'whitespace is trimmed',
      `
			{{- range $i, $_ := .Messages }}
				{{- $last := eq (len (slice $.Messages $i)) 1 -}}
				{{ if and $last .Thinking }}
					Some text before   {{ .Thinking }}    Some text after
				{{ end }}
			{{ end }}
		`,
      ['Some text before', 'Some text after'],
    ],
    [
      'qwen3',
      `{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ if and $last .Thinking }}
<think>{{ .Thinking }}</think>
{{ end }}
{{ if .Content }}{{ .Content }}
{{- else if .ToolCalls }}<tool_call>
{{ range .ToolCalls }}{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}
{{ end }}</tool_call>
{{- end }}{{ if not $last }}<|im_end|>
{{ end }}
{{- end }}
{{- end }}`,
      ['<think>', '</think>'],
    ],
    ['no thinking at all', '{{ range .Messages }}{{ .Content }}{{ end }}', undefined],
    ['thinking outside any range', '{{ if .Thinking }}<think>{{ .Thinking }}</think>{{ end }}', undefined],
    ['a template that does not parse', '{{ range .Messages }}', undefined],
  ];
  for (const [name, template, tags] of cases) {
    t.same(inferThinkingTags(template), tags ? { opening: tags[0], closing: tags[1] } : undefined, name);
  }
});

t.test('GGUF chat templates think as Ollama detects it; think values as Ollama reads them', async (t) => {
  t.ok(chatTemplateThinks("{{ '<think>' }}{{ reasoning }}{{ '</think>' }}"));
  t.ok(chatTemplateThinks("{% set content = message.content.split('</think>')[-1] %}"));
  t.notOk(chatTemplateThinks("{% set content = message.content.split('</think>')[-1] %}{{ reasoning_content }}"));
  t.notOk(chatTemplateThinks('{{ messages }}'));
  const values: (ThinkValue | undefined)[] = [true, false, 'low', 'max', undefined];
  t.same(values.map(thinkingEnabled), [true, false, true, true, false]);
  t.same(values.map(thinkLevel), ['medium', '', 'low', 'max', '']);
});
