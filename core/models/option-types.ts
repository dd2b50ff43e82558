// The type of each of Ollama's model options (its api.Options fields), shared by the request
// `options` check and the Modelfile's PARAMETER lines.

export type OptionType = 'integer' | 'float' | 'boolean' | 'list';

export const OPTION_TYPES: Readonly<Record<string, OptionType>> = {
  num_keep: 'integer',
  seed: 'integer',
  num_predict: 'integer',
  top_k: 'integer',
  top_p: 'float',
  min_p: 'float',
  typical_p: 'float',
  repeat_last_n: 'integer',
  temperature: 'float',
  repeat_penalty: 'float',
  presence_penalty: 'float',
  frequency_penalty: 'float',
  stop: 'list',
  num_ctx: 'integer',
  num_batch: 'integer',
  num_gpu: 'integer',
  main_gpu: 'integer',
  use_mmap: 'boolean',
  num_thread: 'integer',
};
