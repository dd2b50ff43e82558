import t from 'tap';
import { renderTemplate, TemplateError } from '../../core/models/go-template.js';
import { renderChatPrompt, renderGeneratePrompt, templateUses } from './template-prompt.js';

const CHATML_MESSAGES = `{{- range $i, $m := .Messages }}<|im_start|>{{ $m.Role }}
{{ $m.Content }}<|im_end|>
{{ end }}<|im_start|>assistant
`;

const LEGACY = '{{ if .System }}<|system|>{{ .System }}\n{{ end }}<|user|>{{ .Prompt }}\n<|assistant|>{{ .Response }}</s>';

t.test('fields, conditions and whitespace trimming', async (t) => {
  t.equal(renderTemplate('{{ .System }}|{{ .Prompt }}', { System: 'S', Prompt: 'P' }), 'S|P');
  t.equal(renderTemplate('{{ if .System }}sys:{{ .System }} {{ end }}{{ .Prompt }}', { System: '', Prompt: 'P' }), 'P');
  t.equal(renderTemplate('a  {{- .X -}}  b', { X: 'x' }), 'axb');
  t.equal(renderTemplate('{{ if .A }}a{{ else if .B }}b{{ else }}c{{ end }}', { A: false, B: true }), 'b');
  t.equal(renderTemplate('{{ if .A }}a{{ else if .B }}b{{ else }}c{{ end }}', { A: 0, B: '' }), 'c');
  t.equal(renderTemplate('{{/* a comment */}}x', {}), 'x');
  t.equal(renderTemplate('{{ .Missing }}', {}), '', 'a missing field prints nothing');
});

t.test('range, variables, with and functions', async (t) => {
  const data = { Items: [{ Name: 'a' }, { Name: 'b' }, { Name: 'c' }], Root: 'R', Obj: { K: 'v' } };
  t.equal(renderTemplate('{{ range .Items }}{{ .Name }}{{ $.Root }}{{ end }}', data), 'aRbRcR');
  t.equal(renderTemplate('{{ range $i, $x := .Items }}{{ $i }}={{ $x.Name }};{{ end }}', data), '0=a;1=b;2=c;');
  t.equal(
    renderTemplate('{{ range $i, $x := .Items }}{{ $last := eq (len (slice $.Items $i)) 1 }}{{ if $last }}last:{{ $x.Name }}{{ end }}{{ end }}', data),
    'last:c',
  );
  t.equal(renderTemplate('{{ range .None }}x{{ else }}empty{{ end }}', {}), 'empty');
  t.equal(renderTemplate('{{ with .Obj }}{{ .K }}{{ end }}', data), 'v');
  t.equal(renderTemplate('{{ if and .A (not .B) }}yes{{ end }}{{ if or .B .A }}!{{ end }}', { A: 1, B: 0 }), 'yes!');
  t.equal(renderTemplate('{{ if ne .A "x" }}ne{{ end }}{{ if eq .A "y" "z" }}eq{{ end }}', { A: 'z' }), 'neeq');
  t.equal(renderTemplate('{{ json .Obj }} {{ index .Obj "K" }} {{ len .Items }}', data), '{"K":"v"} v 3');
});

t.test('template errors name the problem', async (t) => {
  t.throws(() => renderTemplate('{{ if .A }}x', {}), TemplateError, 'unclosed if');
  t.throws(() => renderTemplate('{{ end }}', {}), TemplateError);
  t.throws(() => renderTemplate('{{ nosuch .A }}', {}), /not defined/);
  t.throws(() => renderTemplate('{{ template "x" }}', {}), /not supported/);
  t.throws(() => renderTemplate('{{ $x }}', {}), /undefined variable/);
});

t.test('a generate prompt ends where the response would start', async (t) => {
  t.equal(renderGeneratePrompt(LEGACY, { system: 'Be brief.', prompt: 'Hi' }), '<|system|>Be brief.\n<|user|>Hi\n<|assistant|>');
  t.equal(renderGeneratePrompt(LEGACY, { prompt: 'Hi' }), '<|user|>Hi\n<|assistant|>');
  t.equal(renderGeneratePrompt(CHATML_MESSAGES, { system: 'S', prompt: 'Hi' }), '<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
  t.equal(renderGeneratePrompt('<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>', { prompt: 'def f(', suffix: 'return 1' }), '<PRE> def f( <SUF>return 1 <MID>');
});

t.test('a chat renders through .Messages, or turn by turn for legacy templates', async (t) => {
  const messages = [
    { role: 'user' as const, content: 'Hi' },
    { role: 'assistant' as const, content: 'Hello' },
    { role: 'user' as const, content: 'Bye' },
  ];
  t.equal(
    renderChatPrompt(CHATML_MESSAGES, { system: 'S', messages }),
    '<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n',
  );
  t.equal(
    renderChatPrompt(LEGACY, { system: 'S', messages }),
    '<|system|>S\n<|user|>Hi\n<|assistant|>Hello</s><|user|>Bye\n<|assistant|>',
  );
});

t.test('tools and tool calls reach the template with Go names and Ollama JSON', async (t) => {
  const template = '{{ range .Tools }}{{ json . }}|{{ .Function.Name }}{{ end }}{{ range .Messages }}{{ range .ToolCalls }}{{ .Function.Name }}{{ json .Function.Arguments }}{{ end }}{{ end }}';
  const tool = { type: 'function' as const, function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object' } } };
  const out = renderChatPrompt(template, {
    messages: [{ role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Paris' } } }] }],
    tools: [tool],
  });
  t.equal(out, `${JSON.stringify(tool)}|get_weather` + 'get_weather{"city":"Paris"}');
  t.ok(templateUses(template, 'Tools'));
  t.notOk(templateUses(template, 'Suffix'));
});

t.test("templates see think as Ollama's .Think, .ThinkLevel and .IsThinkSet, and a message's .Thinking", async (t) => {
  const template = '{{ range .Messages }}{{ if .Thinking }}[{{ .Thinking }}]{{ end }}{{ .Content }};{{ end }}{{ .Think }}/{{ .ThinkLevel }}/{{ .IsThinkSet }}';
  const messages = [{ role: 'assistant' as const, content: 'a', thinking: 'hm' }, { role: 'user' as const, content: 'b' }];
  t.equal(renderChatPrompt(template, { messages }), '[hm]a;b;false//false', 'unset');
  t.equal(renderChatPrompt(template, { messages, think: true }), '[hm]a;b;true/medium/true', 'true is medium');
  t.equal(renderChatPrompt(template, { messages, think: false }), '[hm]a;b;false//true', 'false is set');
  t.equal(renderGeneratePrompt('{{ .Prompt }} {{ .Think }}/{{ .ThinkLevel }}', { prompt: 'p', think: 'max' }), 'p true/max');
});
