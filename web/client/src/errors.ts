/** Every failure the client reports is an `AirelayError`: from the server's `{"error": {code, message}}`, a
 * stream that failed or was cut after the 200, an answer that is not what the API sends, or no connection. */

/** Codes the server sends, plus the client's own (`network_error`, `bad_response`, `stream_*`). */
export type ErrorCode =
  | 'malformed_request'
  | 'payload_too_large'
  | 'invalid_input'
  | 'unsupported_media_type'
  | 'not_an_image'
  | 'image_url_refused'
  | 'image_fetch_failed'
  | 'rate_limited'
  | 'budget_exceeded'
  | 'rate_limit_exceeded'
  | 'provider_failed'
  | 'provider_unavailable'
  | 'provider_timeout'
  | 'faq_index_missing'
  | 'faq_index_unusable'
  | 'network_error'
  | 'bad_response'
  | 'stream_error'
  | 'stream_incomplete'
  | 'invalid_stream'
  | (string & {});

export type RateLimit = 'requests_per_minute' | 'tokens_per_minute';

export interface AirelayErrorInit {
  status: number;
  code: ErrorCode;
  message: string;
  retryAfter?: number | null;
  requestId?: string | null;
  budget?: 'global' | 'caller' | null;
  rate?: RateLimit | null;
  limit?: number | null;
  used?: number | null;
  cause?: unknown;
}

export class AirelayError extends Error {
  override readonly name = 'AirelayError';
  /** HTTP status; 0 when no response arrived; 200 for a stream that failed after it started. */
  readonly status: number;
  readonly code: ErrorCode;
  /** Seconds to wait before trying again (from `Retry-After`), or null. */
  readonly retryAfter: number | null;
  readonly requestId: string | null;
  /** On `budget_exceeded`: which budget ran out, all callers' (`global`) or the caller's own (`caller`). */
  readonly budget: 'global' | 'caller' | null;
  /** On `rate_limit_exceeded`: which of the caller's own per-minute limits this call would pass. */
  readonly rate: RateLimit | null;
  /** The caller's own limit that was reached and what is used of it: USD for the caller's budget, requests or
   * tokens a minute for `rate`. */
  readonly limit: number | null;
  readonly used: number | null;

  constructor(init: AirelayErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.retryAfter = init.retryAfter ?? null;
    this.requestId = init.requestId ?? null;
    this.budget = init.budget ?? null;
    this.rate = init.rate ?? null;
    this.limit = init.limit ?? null;
    this.used = init.used ?? null;
  }
}

export function isAirelayError(value: unknown): value is AirelayError {
  return value instanceof AirelayError;
}

/** `Retry-After` as seconds: delta-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.ceil(Number(text));
  const when = Date.parse(text);
  return Number.isNaN(when) ? null : Math.max(0, Math.ceil((when - now) / 1000));
}

/** The error a non-2xx response stands for. Reads the body (at most once). */
export async function errorFromResponse(response: Response): Promise<AirelayError> {
  let payload: unknown = null;
  try {
    payload = await response.json();
  } catch {
    // not JSON: a proxy's HTML page or an empty body; fall back to the status line
  }
  const error = isRecord(payload) && isRecord(payload['error']) ? payload['error'] : {};
  const message = typeof error['message'] === 'string' && error['message'] !== '' ? error['message'] : null;
  return new AirelayError({
    status: response.status,
    code: typeof error['code'] === 'string' ? error['code'] : 'bad_response',
    message: message ?? `The server answered with HTTP ${response.status}.`,
    retryAfter: parseRetryAfter(response.headers.get('retry-after')),
    requestId: response.headers.get('x-request-id'),
    budget: error['budget'] === 'global' || error['budget'] === 'caller' ? error['budget'] : null,
    rate:
      error['rate'] === 'requests_per_minute' || error['rate'] === 'tokens_per_minute' ? error['rate'] : null,
    limit: typeof error['limit'] === 'number' ? error['limit'] : null,
    used: typeof error['used'] === 'number' ? error['used'] : null,
  });
}

export function networkError(cause: unknown): AirelayError {
  return new AirelayError({
    status: 0,
    code: 'network_error',
    message: 'Could not reach the server.',
    cause,
  });
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
