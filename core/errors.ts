// Every error code the product reports, in one place. HTTP handlers turn a ProductError into
// Ollama's error shape, {"error": message}, with its status.

export const ERROR_CODES = {
  OD_ERR_CONFIG: 'invalid configuration',
  OD_ERR_PLUGIN_NOT_FOUND: 'a configured plugin could not be resolved',
  OD_ERR_PLUGIN_INVALID: 'a plugin module does not have the expected shape',
  OD_ERR_PLUGIN_DEPENDENCY: "a plugin requires a component nothing provides",
  OD_ERR_PLUGIN_START: 'a plugin failed to start',
  OD_ERR_BAD_REQUEST: 'the request is malformed',
  OD_ERR_INVALID_MODEL_NAME: 'a model name breaks the naming rules',
  OD_ERR_MODEL_NOT_FOUND: 'the model is not in the store',
  OD_ERR_BLOB_NOT_FOUND: 'a blob is not in the store',
  OD_ERR_DIGEST_MISMATCH: "bytes do not match their sha256 digest",
  OD_ERR_BODY_TOO_LARGE: 'the request body is larger than api.max_body_size',
  OD_ERR_UNSUPPORTED: 'the model or engine cannot do what was asked',
  OD_ERR_UNAUTHORIZED: 'no valid identity',
  OD_ERR_FORBIDDEN: 'the identity lacks the permission',
  OD_ERR_QUEUE_FULL: 'too many requests are waiting',
  OD_ERR_RATE_LIMITED: "a caller went past security.auth.rate_limit or max_in_flight",
  OD_ERR_NO_NODE: 'no live, undrained node holds the model',
  OD_ERR_FORWARD: 'every node that could run a request failed before answering',
  OD_ERR_NODE_NOT_FOUND: 'no cluster member has this id or name',
  OD_ERR_KEY_NOT_FOUND: 'no API key has this id',
  OD_ERR_INSUFFICIENT_MEMORY: 'a model load with these options would not fit in the memory this node has',
  OD_ERR_REGISTRY: 'a registry refused or failed a request',
  OD_ERR_NOT_LEADER: 'this consensus member is not the leader',
  OD_ERR_PROPOSAL_UNKNOWN: 'the consensus leader changed while a proposal was under way',
  OD_ERR_CONFLICT: 'the request conflicts with the cluster as it is',
  OD_ERR_NODE_RUNNING: 'a node already runs on this data dir',
  OD_ERR_NODE_NAME_TAKEN: 'another member of the cluster joined earlier under this node name',
  OD_ERR_INTERNAL: 'an unexpected failure',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

const STATUS: Partial<Record<ErrorCode, number>> = {
  OD_ERR_BAD_REQUEST: 400,
  OD_ERR_INVALID_MODEL_NAME: 400,
  OD_ERR_DIGEST_MISMATCH: 400,
  OD_ERR_MODEL_NOT_FOUND: 404,
  OD_ERR_BLOB_NOT_FOUND: 404,
  OD_ERR_BODY_TOO_LARGE: 413,
  OD_ERR_UNSUPPORTED: 400,
  OD_ERR_UNAUTHORIZED: 401,
  OD_ERR_FORBIDDEN: 403,
  OD_ERR_QUEUE_FULL: 503,
  OD_ERR_RATE_LIMITED: 429,
  OD_ERR_NO_NODE: 503,
  OD_ERR_FORWARD: 502,
  OD_ERR_NODE_NOT_FOUND: 404,
  OD_ERR_KEY_NOT_FOUND: 404,
  OD_ERR_INSUFFICIENT_MEMORY: 400,
  OD_ERR_REGISTRY: 502,
  OD_ERR_NOT_LEADER: 503,
  OD_ERR_PROPOSAL_UNKNOWN: 503,
  OD_ERR_CONFLICT: 409,
};

export class ProductError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ProductError';
  }

  get status(): number {
    return STATUS[this.code] ?? 500;
  }
}

export const badRequest = (message: string) => new ProductError('OD_ERR_BAD_REQUEST', message);
export const modelNotFound = (name: string) => new ProductError('OD_ERR_MODEL_NOT_FOUND', `model '${name}' not found`);

/** The HTTP status for any thrown value: a ProductError's own, else one from a known code. */
export function statusOf(error: unknown): number {
  if (error instanceof ProductError) return error.status;
  const code = (error as { code?: string } | null)?.code;
  if (code && code in STATUS) return STATUS[code as ErrorCode]!;
  return 500;
}
