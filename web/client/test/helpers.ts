/** Builds UI message streams and Responses whose bodies arrive in chosen pieces. */

export const encoder = new TextEncoder();

/** Text with everything a careless client breaks on: Korean, an emoji (4 bytes), newlines, a literal
 * `data: [DONE]`, quotes and a backslash. */
export const TRICKY_DELTAS = ['Hello', ' there', '!\n', '안녕하세요', ' 👋', '\n\n', 'data: [DONE]', ' "quoted"', ' back\\slash', '.'];
export const TRICKY_TEXT = TRICKY_DELTAS.join('');

export function uiStream(deltas: string[] = TRICKY_DELTAS, tail: object[] | null = null, lineEnd = '\n'): string {
  const parts: object[] = [
    { type: 'start', messageId: 'msg_1' },
    { type: 'start-step' },
    { type: 'text-start', id: 't1' },
    ...deltas.map((delta) => ({ type: 'text-delta', id: 't1', delta })),
    { type: 'text-end', id: 't1' },
    ...(tail ?? [
      { type: 'data-usage', data: { model: 'openai/gpt-4o-mini', inputTokens: 12, outputTokens: deltas.length, cachedTokens: 0, estimated: false, costUsd: 0.0000066, costKrw: 0.0092 }, transient: true },
      { type: 'finish-step' },
      { type: 'finish', finishReason: 'stop' },
    ]),
  ];
  const events = parts.map((part) => `data: ${JSON.stringify(part)}${lineEnd}${lineEnd}`);
  return events.join('') + (tail === null || tail.some((p) => (p as { type: string }).type === 'finish') ? `data: [DONE]${lineEnd}${lineEnd}` : '');
}

/** Splits bytes at the given offsets. */
export function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    pieces.push(bytes.slice(start, cut));
    start = cut;
  }
  return pieces;
}

/** A deterministic pseudo-random chunking (sizes 1..max). */
export function randomPieces(bytes: Uint8Array, seed: number, max = 7): Uint8Array[] {
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13; state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5; state >>>= 0;
    return state;
  };
  const cuts: number[] = [];
  for (let at = 1 + (next() % max); at < bytes.length; at += 1 + (next() % max)) cuts.push(at);
  return splitAt(bytes, cuts);
}

export interface TrackedBody {
  stream: ReadableStream<Uint8Array>;
  /** True once the reader cancelled the body (left early, or ended it after [DONE]). */
  cancelled: () => boolean;
}

/** A body that hands out one piece per read. With `hangAfter`, reads after that many pieces wait, like a server
 * still generating. An abort of `signal` errors the body with an AbortError, as fetch does. */
export function bodyOf(pieces: Uint8Array[], options: { hangAfter?: number; signal?: AbortSignal | null } = {}): TrackedBody {
  let index = 0;
  let cancelled = false;
  let fail: ((reason: unknown) => void) | null = null;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      options.signal?.addEventListener('abort', () => {
        const reason = new DOMException('The operation was aborted.', 'AbortError');
        controller.error(reason);
        fail?.(reason);
      }, { once: true });
    },
    async pull(controller) {
      if (options.hangAfter !== undefined && index >= options.hangAfter) {
        await new Promise((_, reject) => { fail = reject; }).catch(() => {});
        return;
      }
      const piece = pieces[index++];
      if (piece === undefined) controller.close();
      else controller.enqueue(piece);
    },
    cancel() {
      cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { stream, cancelled: () => cancelled };
}

export function sseResponse(body: ReadableStream<Uint8Array>, status = 200): Response {
  return new Response(body, {
    status,
    headers: { 'content-type': 'text/event-stream; charset=utf-8', 'x-vercel-ai-ui-message-stream': 'v1' },
  });
}

export function jsonResponse(payload: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(payload), { status, headers: { 'content-type': 'application/json', ...headers } });
}

/** A 503 whose JSON error body is still on its way (a slow proxy): the headers are in, the body hangs until aborted. */
export function slowErrorResponse(init: RequestInit): Response {
  const body = bodyOf([encoder.encode('{"error": {"code": "provider_unavailable", ')], { hangAfter: 1, signal: init.signal ?? null });
  return new Response(body.stream, { status: 503, headers: { 'content-type': 'application/json' } });
}

export interface FakeFetch {
  fetch: typeof fetch;
  calls: { url: string; init: RequestInit }[];
}

/** A fetch that answers every call with `respond(url, init)`, honouring the abort signal as fetch does. */
export function fakeFetch(respond: (url: string, init: RequestInit) => Response | Promise<Response>): FakeFetch {
  const calls: { url: string; init: RequestInit }[] = [];
  const fetchImpl = async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = String(input);
    calls.push({ url, init });
    init.signal?.throwIfAborted();
    const response = await respond(url, init);
    return response;
  };
  return { fetch: fetchImpl as typeof fetch, calls };
}
