// Hop-by-hop headers stay on their connection; everything else, the forward mark added, goes on.

import t from 'tap';
import { FORWARDED_HEADER, endToEndHeaders, forwardedRequestHeaders } from './headers.js';

t.test('hop-by-hop headers and those the Connection header names are dropped; the rest pass unchanged', async (t) => {
  const headers = {
    host: '127.0.0.1:11434',
    connection: 'keep-alive, X-Trace-Hop',
    'keep-alive': 'timeout=5',
    'transfer-encoding': 'chunked',
    te: 'trailers',
    trailer: 'x-checksum',
    upgrade: 'h2c',
    'proxy-authorization': 'Basic abc',
    'proxy-connection': 'keep-alive',
    'x-trace-hop': 'only this hop',
    authorization: 'Bearer key',
    'content-type': 'application/json',
    'content-length': '42',
    'set-cookie': ['a=1', 'b=2'],
  };
  t.same(endToEndHeaders(headers), {
    host: '127.0.0.1:11434',
    authorization: 'Bearer key',
    'content-type': 'application/json',
    'content-length': '42',
    'set-cookie': ['a=1', 'b=2'],
  });
});

t.test('a forwarded request is marked with the sending node and loses an Expect already answered', async (t) => {
  const headers = forwardedRequestHeaders({ expect: '100-continue', 'content-length': '2048', connection: 'close' }, 'node-a');
  t.same(headers, { 'content-length': '2048', [FORWARDED_HEADER]: 'node-a' });
});
