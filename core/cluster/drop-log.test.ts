import t from 'tap';
import { DropLog } from './drop-log.js';

t.test('the first drop of a peer is logged, then one line per interval with the count since', async (t) => {
  const log = new DropLog(10_000);
  t.equal(log.drop('p1', 0), 1);
  t.equal(log.drop('p1', 5000), undefined);
  t.equal(log.drop('p1', 9999), undefined);
  t.equal(log.drop('p2', 9999), 1, 'each peer has its own interval');
  t.equal(log.drop('p1', 10_000), 3, 'two held back plus this one');
  t.equal(log.drop('p1', 10_001), undefined);
});
