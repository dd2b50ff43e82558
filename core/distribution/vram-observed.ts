// The VRAM nodes really used per model and context, against what the header estimate said, and the
// estimate corrected by it: the ratio seen at that context, else the model's latest ratio.

/** Models remembered at once; the one heard of longest ago goes first. */
export const MAX_OBSERVED_MODELS = 4096;
/** Contexts remembered per model. */
const MAX_CONTEXTS = 16;

export interface VramObservation {
  model: string;
  contextLength: number;
  /** What estimateVram gave for this model and context. */
  estimated: number;
  /** What the loaded model took (size_vram in /api/ps). */
  used: number;
}

export class ObservedVram {
  /** Model → context length → used / estimated, in the order heard (latest last). */
  private readonly ratios = new Map<string, Map<number, number>>();

  /** Takes in one observation; one with nothing used (a model on CPU) or nothing estimated says nothing. */
  record({ model, contextLength, estimated, used }: VramObservation): void {
    if (!(estimated > 0) || !(used > 0) || !Number.isFinite(used)) return;
    const contexts = this.ratios.get(model) ?? new Map<number, number>();
    this.ratios.delete(model);
    this.ratios.set(model, contexts);
    contexts.delete(contextLength);
    contexts.set(contextLength, used / estimated);
    if (contexts.size > MAX_CONTEXTS) contexts.delete(contexts.keys().next().value!);
    if (this.ratios.size > MAX_OBSERVED_MODELS) this.ratios.delete(this.ratios.keys().next().value!);
  }

  /** `estimate` for `model` at `contextLength`, corrected by what was seen; unchanged when nothing was. */
  correct(model: string, contextLength: number, estimate: number): number {
    const contexts = this.ratios.get(model);
    if (!contexts) return estimate;
    const ratio = contexts.get(contextLength) ?? [...contexts.values()].at(-1)!;
    return Math.round(estimate * ratio);
  }
}
