// When a failed forward is tried on another holder, and the words of the error after all failed.

import t from 'tap';
import { failureReason, forwardFailure, nextStep, nodeUnreachable } from './attempts.js';
import { REFUSED_HEADER } from './headers.js';

const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });

t.test('a target that never answered is retried elsewhere; one that answered is relayed, whatever its status', async (t) => {
  t.equal(nextStep({ answered: false, error: refused }, false), 'retry');
  t.equal(nextStep({ answered: true, status: 200, headers: {} }, false), 'relay');
  t.equal(nextStep({ answered: true, status: 404, headers: {} }, false), 'relay', "a holder's own 404 is the answer");
  t.equal(nextStep({ answered: true, status: 503, headers: {} }, false), 'relay', "a holder's busy 503 is the answer");
});

t.test('a drained target refusing a forward is retried elsewhere', async (t) => {
  t.equal(nextStep({ answered: true, status: 503, headers: { [REFUSED_HEADER]: 'drained' } }, false), 'retry');
  t.equal(nextStep({ answered: true, status: 200, headers: { [REFUSED_HEADER]: 'drained' } }, false), 'relay', 'only a 503 refuses');
});

t.test('a client that left gets no retry', async (t) => {
  t.equal(nextStep({ answered: false, error: refused }, true), 'stop');
  t.equal(nextStep({ answered: true, status: 503, headers: { [REFUSED_HEADER]: 'drained' } }, true), 'stop');
});

t.test('reasons name the failure by its code anywhere down the causes, else by the error itself', async (t) => {
  t.equal(failureReason(refused), 'connection refused');
  t.equal(failureReason(new Error('fetch failed', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) })), 'connection closed before an answer');
  t.equal(failureReason(new Error('node n1 left the cluster')), 'node n1 left the cluster');
  t.equal(failureReason('odd'), 'odd');
});

t.test('after every holder failed: a 502 naming each node and why', async (t) => {
  const error = forwardFailure('tiny:latest', [
    { node: 'b', reason: 'connection refused' },
    { node: 'c', reason: 'drained' },
  ]);
  t.equal(error.status, 502);
  t.equal(error.message, "no node holding model 'tiny:latest' could serve the request: b (connection refused), c (drained)");
  const unreachable = nodeUnreachable({ node: 'c', reason: 'connection reset' });
  t.equal(unreachable.status, 502);
  t.equal(unreachable.message, "node 'c' could not be reached: connection reset");
});
