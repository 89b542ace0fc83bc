// Talking to this site's API: one request per action (never retried by itself), and one error shape for the page.

/** An error to show: the server's `{"error": {code, message}}`, or what went wrong on the way. */
export class ApiError extends Error {
  constructor({ status = 0, code = '', message, retryAfter = null }) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }

  /** "HTTP 429 · rate_limited", for the small print under the message. */
  get detail() {
    return this.status ? [`HTTP ${this.status}`, this.code].filter(Boolean).join(' · ') : null;
  }
}

export function parseRetryAfter(value) {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const when = Date.parse(trimmed);
  return Number.isNaN(when) ? null : Math.max(0, Math.ceil((when - Date.now()) / 1000));
}

export async function errorFromResponse(response) {
  let message = '';
  let code = '';
  try {
    const payload = await response.json();
    message = typeof payload?.error?.message === 'string' ? payload.error.message : '';
    code = typeof payload?.error?.code === 'string' ? payload.error.code : '';
  } catch {
    // not JSON (a proxy's HTML page, an empty body): fall back to the status line
  }
  return new ApiError({
    status: response.status,
    code,
    message: message || `The server answered with HTTP ${response.status}.`,
    retryAfter: parseRetryAfter(response.headers.get('retry-after')),
  });
}

/** fetch + JSON. Rejects with an ApiError, or with the AbortError when `signal` aborted. */
export async function requestJson(path, { method = 'GET', json, body, signal } = {}) {
  const headers = { accept: 'application/json' };
  if (json !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method, headers, signal, cache: 'no-store',
      body: json !== undefined ? JSON.stringify(json) : body,
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ApiError({ message: 'Could not reach the server. Check the connection and try again.' });
  }
  if (!response.ok) throw await errorFromResponse(response);
  try {
    return await response.json();
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ApiError({ status: response.status, message: 'The server sent an answer this page cannot read.' });
  }
}

/** Tells the cost dashboard that a call was made (it refreshes shortly after). */
export function announceUsage() {
  document.dispatchEvent(new CustomEvent('airelay:usage'));
}
