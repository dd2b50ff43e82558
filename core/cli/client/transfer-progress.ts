// Shows pull and push progress the way the ollama CLI does: a line per status and a bar per layer
// with size, speed and time left (cli-progress MultiBar on a terminal, plain lines otherwise).

import { MultiBar, type Options, type Params } from 'cli-progress';
import { humanBytes } from './format.js';

export interface TransferEvent {
  status: string;
  digest?: string;
  total?: number;
  completed?: number;
}

export interface ProgressView {
  update(event: TransferEvent): void;
  /** Final redraw; leaves every line on screen. */
  stop(): void;
}

/** `40s`, `3m12s`, `1h4m`: as short as Ollama's bar shows it. */
export function humanDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

/** Bytes per second over the last few seconds, so a resumed layer's kept bytes do not count as speed. */
export class RateMeter {
  #samples: { at: number; value: number }[] = [];

  constructor(
    private readonly windowMs = 5000,
    private readonly now = Date.now,
  ) {}

  sample(value: number): void {
    const at = this.now();
    const last = this.#samples.at(-1);
    if (last && value < last.value) this.#samples = [];
    this.#samples.push({ at, value });
    while (this.#samples.length > 2 && at - this.#samples[0]!.at > this.windowMs) this.#samples.shift();
  }

  /** Undefined until two samples at least 0.5 s apart exist. */
  get bytesPerSecond(): number | undefined {
    const first = this.#samples[0];
    const last = this.#samples.at(-1);
    if (!first || !last || last.at - first.at < 500) return undefined;
    return ((last.value - first.value) * 1000) / (last.at - first.at);
  }
}

interface Layer {
  label: string;
  total: number;
  completed: number;
  meter: RateMeter;
}

/** The text of one layer's line; `width` is the bar's width in cells. */
export function layerLine(layer: Layer, width = 30): string {
  const fraction = layer.total > 0 ? Math.min(1, layer.completed / layer.total) : 1;
  const filled = Math.round(fraction * width);
  const bar = `▕${'█'.repeat(filled)}${' '.repeat(width - filled)}▏`;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  if (fraction >= 1) return `${layer.label}... ${percent} ${bar} ${humanBytes(layer.total)}`;
  const rate = layer.meter.bytesPerSecond;
  const speed = rate === undefined ? '' : `${humanBytes(rate)}/s`;
  const eta = rate ? humanDuration((layer.total - layer.completed) / rate) : '';
  return `${layer.label}... ${percent} ${bar} ${humanBytes(layer.completed)}/${humanBytes(layer.total)}  ${speed.padStart(9)} ${eta.padStart(6)}`;
}

export function createProgressView(stream: NodeJS.WriteStream = process.stderr): ProgressView {
  return stream.isTTY ? new TerminalView(stream) : new LineView(stream);
}

/** Bars that redraw in place; every status and layer keeps its line, as in ollama's output. */
class TerminalView implements ProgressView {
  readonly #bars: MultiBar;
  readonly #layers = new Map<string, { layer: Layer; bar: ReturnType<MultiBar['create']> }>();
  #lastStatus: string | undefined;

  constructor(stream: NodeJS.WriteStream) {
    const format = (_options: Options, _params: Params, payload: { text?: string; layer?: Layer }) =>
      payload.layer ? layerLine(payload.layer) : (payload.text ?? '');
    this.#bars = new MultiBar({ stream, format, hideCursor: true, clearOnComplete: false, autopadding: false, linewrap: false, fps: 10 });
  }

  update(event: TransferEvent): void {
    if (event.digest && event.total) {
      let entry = this.#layers.get(event.digest);
      if (!entry) {
        const layer: Layer = { label: event.status, total: event.total, completed: 0, meter: new RateMeter() };
        entry = { layer, bar: this.#bars.create(event.total, 0, { layer }) };
        this.#layers.set(event.digest, entry);
      }
      entry.layer.completed = event.completed ?? 0;
      entry.layer.meter.sample(entry.layer.completed);
      entry.bar.update(entry.layer.completed, { layer: entry.layer });
      this.#lastStatus = undefined;
      return;
    }
    if (event.status === this.#lastStatus) return;
    this.#lastStatus = event.status;
    this.#bars.create(1, 1, { text: event.status });
  }

  stop(): void {
    this.#bars.stop();
  }
}

/** For pipes and logs: each status once, and each layer once it is done. */
class LineView implements ProgressView {
  readonly #done = new Set<string>();
  #lastStatus: string | undefined;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  update(event: TransferEvent): void {
    if (event.digest && event.total) {
      if ((event.completed ?? 0) >= event.total && !this.#done.has(event.digest)) {
        this.#done.add(event.digest);
        this.stream.write(`${layerLine({ label: event.status, total: event.total, completed: event.total, meter: new RateMeter() })}\n`);
      }
      this.#lastStatus = undefined;
      return;
    }
    if (event.status === this.#lastStatus) return;
    this.#lastStatus = event.status;
    this.stream.write(`${event.status}\n`);
  }

  stop(): void {}
}
