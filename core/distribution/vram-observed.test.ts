import t from 'tap';
import { MAX_OBSERVED_MODELS, ObservedVram } from './vram-observed.js';

t.test('an estimate with nothing observed stays as it is', async (t) => {
  t.equal(new ObservedVram().correct('m', 4096, 1000), 1000);
});

t.test('the ratio seen at a context corrects later estimates at that context', async (t) => {
  const seen = new ObservedVram();
  seen.record({ model: 'm', contextLength: 4096, estimated: 1000, used: 1250 });
  t.equal(seen.correct('m', 4096, 2000), 2500, 'a quarter more than estimated');
  t.equal(seen.correct('other', 4096, 2000), 2000, 'another model is not corrected');
});

t.test("at a context not seen, the model's latest ratio applies", async (t) => {
  const seen = new ObservedVram();
  seen.record({ model: 'm', contextLength: 2048, estimated: 1000, used: 900 });
  seen.record({ model: 'm', contextLength: 8192, estimated: 1000, used: 1100 });
  t.equal(seen.correct('m', 2048, 1000), 900);
  t.equal(seen.correct('m', 4096, 1000), 1100);
  seen.record({ model: 'm', contextLength: 2048, estimated: 1000, used: 800 });
  t.equal(seen.correct('m', 4096, 1000), 800, 'a new observation replaces the old one and is the latest');
});

t.test('a model on CPU (nothing in VRAM) or without an estimate teaches nothing', async (t) => {
  const seen = new ObservedVram();
  seen.record({ model: 'm', contextLength: 4096, estimated: 1000, used: 0 });
  seen.record({ model: 'm', contextLength: 4096, estimated: 0, used: 500 });
  t.equal(seen.correct('m', 4096, 1000), 1000);
});

t.test('the record is bounded: the model heard of longest ago is forgotten', async (t) => {
  const seen = new ObservedVram();
  for (let i = 0; i <= MAX_OBSERVED_MODELS; i++) seen.record({ model: `m${i}`, contextLength: 1, estimated: 1, used: 2 });
  t.equal(seen.correct('m0', 1, 10), 10);
  t.equal(seen.correct(`m${MAX_OBSERVED_MODELS}`, 1, 10), 20);
});
