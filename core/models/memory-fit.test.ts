import t from 'tap';
import { humanBytes, memoryShortfall, requireFit } from './memory-fit.js';

const GiB = 2 ** 30;

t.test("sizes read as Ollama's format.HumanBytes2 prints them", async (t) => {
  t.equal(humanBytes(512), '512 B');
  t.equal(humanBytes(1536), '1.5 KiB');
  t.equal(humanBytes(5 * 2 ** 20), '5.0 MiB');
  t.equal(humanBytes(953.67 * GiB), '953.7 GiB');
  t.equal(humanBytes(2 ** 40), '1024.0 GiB', 'GiB is the largest unit');
});

t.test('what the GPUs cannot hold spills to system memory, which alone can run out', async (t) => {
  t.equal(memoryShortfall({ total: 10 * GiB, vram: 8 * GiB }, { ram: 2 * GiB, vram: 8 * GiB }), undefined, 'fits exactly');
  t.equal(
    memoryShortfall({ total: 10 * GiB, vram: 8 * GiB }, { ram: 2 * GiB, vram: 6 * GiB }),
    'model requires more system memory (4.0 GiB) than is available (2.0 GiB)',
    'two GiB the GPUs lack land in system memory',
  );
  t.equal(memoryShortfall({ total: 3 * GiB, vram: 0 }, { ram: 2 * GiB, vram: 0 }), 'model requires more system memory (3.0 GiB) than is available (2.0 GiB)');
  t.equal(memoryShortfall({ total: GiB, vram: 0 }, { ram: -5, vram: 0 }), 'model requires more system memory (1.0 GiB) than is available (0 B)');
  t.throws(() => requireFit({ total: 3 * GiB, vram: 0 }, { ram: GiB, vram: 0 }), { code: 'OD_ERR_INSUFFICIENT_MEMORY', status: 400 });
  t.doesNotThrow(() => requireFit({ total: GiB, vram: 0 }, { ram: GiB, vram: 0 }));
});
