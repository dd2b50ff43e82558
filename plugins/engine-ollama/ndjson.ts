// Reads an NDJSON byte stream, as Ollama streams /api/generate and /api/chat, into one JSON object
// per line; a line may arrive split over chunks, even inside a multi-byte character.

export class NdjsonError extends Error {
  override readonly name = 'NdjsonError';
}

function parseLine(line: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new NdjsonError(`a line that is not JSON: ${line.slice(0, 200)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new NdjsonError(`a line that is not a JSON object: ${line.slice(0, 200)}`);
  return value as Record<string, unknown>;
}

export async function* ndjsonObjects(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Record<string, unknown>> {
  const decoder = new TextDecoder();
  let pending = '';
  for await (const chunk of chunks) {
    pending += decoder.decode(chunk, { stream: true });
    for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
      const line = pending.slice(0, end).trim();
      pending = pending.slice(end + 1);
      if (line !== '') yield parseLine(line);
    }
  }
  const last = (pending + decoder.decode()).trim();
  if (last !== '') yield parseLine(last);
}
