// The score of one candidate, in AssemblyScript: expected wait in ms before its first token, from
// the requests ahead of this one, its slots and its speed. Lower is better.

export function waitMs(ahead: f64, slots: f64, tokensPerSecond: f64, outputTokens: f64): f64 {
  const s = max(1.0, slots);
  const perSlot = tokensPerSecond > 0 ? tokensPerSecond / s : 20.0;
  const queued = max(0.0, ahead - s + 1.0);
  return (queued * outputTokens * 1000.0) / (perSlot * s);
}
