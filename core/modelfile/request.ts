// Turns a parsed Modelfile into the fields of Ollama's /api/create request, as Ollama's
// Modelfile.CreateRequest does. FROM and ADAPTER stay paths or names: the client resolves files.

import { ModelfileError, type MessageRole, type Modelfile } from './parse.js';
import { DEPRECATED_PARAMETERS, ParameterError, typedParameter, type ParameterValue } from './parameters.js';

export interface SourceReference {
  value: string;
  line: number;
}

export interface ModelfileRequest {
  /** Every FROM in order: a local path to upload or the name of an existing model. */
  from: SourceReference[];
  adapters: SourceReference[];
  template?: string;
  system?: string;
  license?: string[];
  parameters?: Record<string, ParameterValue>;
  messages?: { role: MessageRole; content: string }[];
  /** Things Ollama accepts but ignores, worded as Ollama prints them. */
  warnings: string[];
}

export function modelfileRequest(modelfile: Modelfile): ModelfileRequest {
  const request: ModelfileRequest = { from: [], adapters: [], warnings: [] };
  const parameters: Record<string, ParameterValue> = {};
  const licenses: string[] = [];
  const messages: { role: MessageRole; content: string }[] = [];
  for (const command of modelfile.commands) {
    switch (command.kind) {
      case 'from':
        request.from.push({ value: command.value, line: command.line });
        break;
      case 'adapter':
        request.adapters.push({ value: command.value, line: command.line });
        break;
      case 'template':
      case 'system':
        request[command.kind] = command.value;
        break;
      case 'license':
        licenses.push(command.value);
        break;
      case 'message':
        messages.push({ role: command.role, content: command.content });
        break;
      case 'parameter':
        if (DEPRECATED_PARAMETERS.includes(command.name)) {
          request.warnings.push(`warning: parameter ${command.name} is deprecated`);
          break;
        }
        try {
          parameters[command.name] = typedParameter(command.name, command.value, parameters[command.name]);
        } catch (error) {
          if (error instanceof ParameterError) throw new ModelfileError(error.message, command.line);
          throw error;
        }
        break;
    }
  }
  if (Object.keys(parameters).length > 0) request.parameters = parameters;
  if (licenses.length > 0) request.license = licenses;
  if (messages.length > 0) request.messages = messages;
  return request;
}
