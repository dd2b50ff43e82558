// Reproducible feature matrices for the parity tests and the benchmark: a seeded generator, so a
// failure names a seed that replays it.

import { FEATURE, FEATURE_COUNT } from './score.js';

/** n candidates with plausible load figures; some idle, some without throughput, noise in the reserved slot. */
export function randomFeatures(random: () => number, n: number): Float64Array {
  const features = new Float64Array(n * FEATURE_COUNT);
  for (let row = 0; row < features.length; row += FEATURE_COUNT) {
    features[row + FEATURE.activeRequests] = random() < 0.2 ? 0 : Math.floor(random() * 16);
    features[row + FEATURE.queueDepth] = random() < 0.5 ? 0 : Math.floor(random() * 64);
    features[row + FEATURE.tokensPerSecond] = random() < 0.2 ? 0 : random() * 400;
    features[row + FEATURE.gpuUtilization] = random();
    features[row + FEATURE.vramFreeFraction] = random();
    features[row + FEATURE.modelLoaded] = random() < 0.5 ? 1 : 0;
    features[row + FEATURE.local] = random() < 0.1 ? 1 : 0;
    features[row + FEATURE.reserved] = random() * 1e6;
  }
  return features;
}
