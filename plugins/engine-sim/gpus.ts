// The simulated GPU inventory: VRAM per GPU and what each loaded model reserved of it. Placement
// follows Ollama: a model that fits one GPU stays on the one with the most free VRAM, else it is spread.

import type { GpuInfo } from '../../core/contracts/engine.js';

/** Bytes to take from each GPU for `bytes`, or undefined when the GPUs lack that much free VRAM. */
export function placeVram(free: readonly number[], bytes: number): number[] | undefined {
  const taken = free.map(() => 0);
  if (bytes <= 0) return taken;
  const roomiest = free.reduce((best, bytesFree, index) => (bytesFree > free[best]! ? index : best), 0);
  if (free.length > 0 && free[roomiest]! >= bytes) {
    taken[roomiest] = bytes;
    return taken;
  }
  let left = bytes;
  for (const [index, bytesFree] of free.entries()) {
    taken[index] = Math.min(bytesFree, left);
    left -= taken[index]!;
  }
  return left > 0 ? undefined : taken;
}

export class GpuInventory {
  private readonly free: number[];

  constructor(
    count: number,
    private readonly vramBytes: number,
  ) {
    this.free = Array.from({ length: count }, () => vramBytes);
  }

  /** All VRAM together: the most any one model can have on the GPUs. */
  get capacity(): number {
    return this.free.length * this.vramBytes;
  }

  list(): GpuInfo[] {
    return this.free.map((vramFree, index) => ({
      id: `sim-gpu-${index}`,
      name: `Simulated GPU ${index}`,
      backend: 'cuda',
      vramTotal: this.vramBytes,
      vramFree,
    }));
  }

  reserve(bytes: number): number[] | undefined {
    const taken = placeVram(this.free, bytes);
    taken?.forEach((part, index) => (this.free[index]! -= part));
    return taken;
  }

  release(taken: readonly number[]): void {
    taken.forEach((part, index) => (this.free[index]! += part));
  }
}
