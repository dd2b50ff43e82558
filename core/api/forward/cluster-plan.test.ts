// Which routes take part in the cluster and how each is planned from its body.

import t from 'tap';
import { clusterModelName, clusterPlan, isClusterRoute, isInferenceRoute } from './cluster-plan.js';

t.test('inference routes are routed by the scheduler under the full name:tag', async (t) => {
  // The prompt source tells a prompt-reading balancer how to hash the body's prompt.
  const cases: [string, string, string, string?][] = [
    ['POST', '/api/generate', 'generate', 'generate'],
    ['POST', '/api/chat', 'chat', 'chat'],
    ['POST', '/api/embed', 'embed'],
    ['POST', '/api/embeddings', 'embed'],
    ['POST', '/v1/chat/completions', 'chat', 'openai-chat'],
    ['POST', '/v1/completions', 'generate', 'openai-completion'],
    ['POST', '/v1/embeddings', 'embed'],
    ['POST', '/v1/responses', 'chat'],
    ['POST', '/v1/messages', 'chat'],
  ];
  for (const [method, url, kind, prompt] of cases) {
    t.strictSame(clusterPlan(method, url, { model: 'tiny' }), { action: 'route', kind, model: 'tiny:latest', ...(prompt ? { prompt } : {}) }, url);
    t.ok(isInferenceRoute(method, url), url);
  }
  t.same(clusterPlan('POST', '/api/chat', { model: 'me/tiny:q4' }), { action: 'route', kind: 'chat', model: 'me/tiny:q4', prompt: 'chat' });
});

t.test('a missing or invalid name, or a body that is no object, gets no plan: the handler words the error', async (t) => {
  t.equal(clusterPlan('POST', '/api/generate', {}), undefined);
  t.equal(clusterPlan('POST', '/api/generate', { model: '' }), undefined);
  t.equal(clusterPlan('POST', '/api/generate', { model: 42 }), undefined);
  t.equal(clusterPlan('POST', '/api/generate', { model: 'a b c' }), undefined);
  t.equal(clusterPlan('POST', '/api/generate', ['tiny']), undefined);
  t.equal(clusterPlan('POST', '/api/generate', undefined), undefined);
  t.equal(clusterModelName('  tiny  '), 'tiny:latest');
});

t.test('unload (empty prompt or messages, keep_alive 0) goes to every holder; a load is routed', async (t) => {
  t.same(clusterPlan('POST', '/api/generate', { model: 'tiny', keep_alive: 0 }), { action: 'every-holder', model: 'tiny:latest' });
  t.same(clusterPlan('POST', '/api/generate', { model: 'tiny', prompt: '', keep_alive: '0s' }), { action: 'every-holder', model: 'tiny:latest' });
  t.same(clusterPlan('POST', '/api/chat', { model: 'tiny', messages: [], keep_alive: 0 }), { action: 'every-holder', model: 'tiny:latest' });
  t.same(clusterPlan('POST', '/api/chat', { model: 'tiny', keep_alive: '0m' }), { action: 'every-holder', model: 'tiny:latest' });
  t.equal(clusterPlan('POST', '/api/generate', { model: 'tiny', prompt: 'hi', keep_alive: 0 })?.action, 'route', 'a run that unloads after is a run');
  t.equal(clusterPlan('POST', '/api/chat', { model: 'tiny', messages: [{ role: 'user', content: 'hi' }], keep_alive: 0 })?.action, 'route');
  t.equal(clusterPlan('POST', '/api/generate', { model: 'tiny' })?.action, 'route', 'a load goes to one node');
  t.equal(clusterPlan('POST', '/api/generate', { model: 'tiny', keep_alive: '5m' })?.action, 'route');
  t.equal(clusterPlan('POST', '/api/generate', { model: 'tiny', keep_alive: 'soon' })?.action, 'route', 'an invalid keep_alive is the handler’s to refuse');
});

t.test('show and push go to one holder; delete and copy to every holder; drains to the node named', async (t) => {
  t.same(clusterPlan('POST', '/api/show', { name: 'tiny' }), { action: 'one-holder', model: 'tiny:latest' });
  t.same(clusterPlan('POST', '/api/show', { model: 'tiny', name: 'other' }), { action: 'one-holder', model: 'tiny:latest' });
  t.same(clusterPlan('POST', '/api/push', { model: 'me/tiny' }), { action: 'one-holder', model: 'me/tiny:latest' });
  t.same(clusterPlan('DELETE', '/api/delete', { model: 'tiny' }), { action: 'every-holder', model: 'tiny:latest' });
  t.same(clusterPlan('POST', '/api/copy', { source: 'tiny', destination: 'copy' }), { action: 'every-holder', model: 'tiny:latest' });
  t.same(clusterPlan('POST', '/api/v1/nodes/:id/drain', undefined, { id: 'node-c' }), { action: 'at-node', node: 'node-c' });
  t.same(clusterPlan('POST', '/api/v1/nodes/:id/undrain', {}, { id: 'n1' }), { action: 'at-node', node: 'n1' });
  t.notOk(isInferenceRoute('POST', '/api/show'));
});

t.test('routes the cluster has no part in get no plan', async (t) => {
  t.equal(clusterPlan('POST', '/api/create', { model: 'tiny' }), undefined);
  t.equal(clusterPlan('GET', '/api/generate', { model: 'tiny' }), undefined);
  t.equal(clusterPlan('POST', '/api/pull', { model: 'tiny' }), undefined);
  t.notOk(isClusterRoute('POST', '/api/create'));
  t.ok(isClusterRoute('DELETE', '/api/delete'));
});
