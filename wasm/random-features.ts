// Reproducible feature matrices for the parity tests and the benchmark: a seeded generator, so a
// failure names a seed that replays it.

import { FEATURE, FEATURE_COUNT } from './score.js';

/**
 * n candidates with plausible figures: some idle, some unmeasured (0), some with the model to
 * load, and few distinct values, so exact ties (and the tie-breakers) come up often.
 */
export function randomFeatures(random: () => number, n: number): Float64Array {
  const features = new Float64Array(n * FEATURE_COUNT);
  const sometimes = (p: number, value: () => number) => (random() < p ? value() : 0);
  for (let row = 0; row < features.length; row += FEATURE_COUNT) {
    features[row + FEATURE.ahead] = sometimes(0.7, () => Math.floor(random() * 24));
    features[row + FEATURE.slots] = sometimes(0.9, () => 1 + Math.floor(random() * 8));
    features[row + FEATURE.ttftMs] = sometimes(0.6, () => random() * 3000);
    features[row + FEATURE.tokensPerSecond] = sometimes(0.6, () => [40, 80, random() * 400][Math.floor(random() * 3)]);
    features[row + FEATURE.promptTokensPerSecond] = sometimes(0.6, () => random() * 5000);
    features[row + FEATURE.loadBytesPerSecond] = sometimes(0.5, () => random() * 4e9);
    features[row + FEATURE.loadBytes] = sometimes(0.4, () => Math.floor(random() * 40e9));
    features[row + FEATURE.uncachedPromptTokens] = sometimes(0.7, () => Math.floor(random() * 8192));
    features[row + FEATURE.scoreBias] = sometimes(0.2, () => (random() - 0.5) * 1000);
    features[row + FEATURE.vramFree] = sometimes(0.8, () => [8e9, 16e9, random() * 80e9][Math.floor(random() * 3)]);
  }
  return features;
}
