/** What every call shares: where the API is, which `fetch` to use, extra headers, and one JSON request helper. */

import { AirelayError, errorFromResponse, networkError } from './errors.js';

export interface ClientOptions {
  /** The API's origin, e.g. `http://127.0.0.1:8000`; empty (the default) means this page's own origin. */
  baseUrl?: string;
  /** A `fetch` to use instead of the global one (tests, instrumentation). */
  fetch?: typeof fetch;
  /** Extra request headers, e.g. `{'x-api-key': '...'}`. */
  headers?: Record<string, string>;
}

export interface CallOptions extends ClientOptions {
  signal?: AbortSignal;
}

export function endpoint(options: ClientOptions, path: string): string {
  return (options.baseUrl ?? '').replace(/\/+$/, '') + path;
}

export function fetchOf(options: ClientOptions): typeof fetch {
  const chosen = options.fetch ?? globalThis.fetch;
  if (typeof chosen !== 'function') throw new TypeError('No fetch: pass options.fetch or run where fetch exists.');
  return chosen;
}

export function isJson(response: Response): boolean {
  return (response.headers.get('content-type') ?? '').toLowerCase().includes('json');
}

/** One request, no retries. Non-2xx answers and unreachable servers become an `AirelayError`; an abort rejects
 * with the signal's reason (an `AbortError`), as `fetch` does. */
export async function requestJson<T>(options: CallOptions, path: string, init: RequestInit): Promise<T> {
  const doFetch = fetchOf(options);
  let response: Response;
  try {
    response = await doFetch(endpoint(options, path), {
      ...init,
      headers: { accept: 'application/json', ...options.headers, ...(init.headers as Record<string, string>) },
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (cause) {
    if (options.signal?.aborted) throw cause;
    throw networkError(cause);
  }
  if (!response.ok) {
    const error = await errorFromResponse(response);
    if (options.signal?.aborted) throw options.signal.reason; // aborted while the error body was read
    throw error;
  }
  if (!isJson(response)) {
    await response.body?.cancel().catch(() => {});
    throw new AirelayError({ status: response.status, code: 'bad_response', message: 'The server did not answer with JSON.' });
  }
  try {
    return (await response.json()) as T;
  } catch (cause) {
    if (options.signal?.aborted) throw cause;
    throw new AirelayError({ status: response.status, code: 'bad_response', message: 'The answer was not valid JSON.', cause });
  }
}

export function postJson<T>(options: CallOptions, path: string, body: unknown): Promise<T> {
  return requestJson<T>(options, path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}
