// One measured figure beside its baseline from the same run.

export interface BenchmarkRow {
  name: string;
  value: number;
  unit: string;
  /** The baseline's figure, in the same unit, measured in the same run. */
  baseline: number;
  /** What the baseline is (e.g. "js twin", "node-llama-cpp direct", "curl"). */
  baselineName: string;
  /** value / baseline. */
  ratio: number;
  /** Whether a larger value is better (throughput) or worse (latency). */
  better: 'higher' | 'lower';
}

export function formatRow(row: BenchmarkRow): string {
  const number = (n: number) => (Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en') : n.toFixed(2));
  return (
    `${row.name.padEnd(80)} ${number(row.value).padStart(12)} ${row.unit.padEnd(11)}` +
    ` vs ${row.baselineName} ${number(row.baseline)}  ×${row.ratio.toFixed(2)} (${row.better} is better)`
  );
}

/** Thrown by a scenario that this machine cannot run (no GPU, a missing tool); the harness reports it and goes on. */
export class BenchmarkUnavailable extends Error {}
