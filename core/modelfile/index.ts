// Ollama's Modelfile: the parser and the /api/create fields it produces.
// The CLI's create command and anything else that reads Modelfiles import from here.

export { ModelfileError, parseModelfile, type MessageRole, type Modelfile, type ModelfileCommand } from './parse.js';
export type { ParameterValue } from './parameters.js';
export { modelfileRequest, type ModelfileRequest, type SourceReference } from './request.js';
