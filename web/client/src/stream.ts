/** `POST /api/chat/stream` as an async iterable: each part with the text so far, a status that moves
 * `submitted → streaming → ready | error` (as `useChat`'s does), and `stop()`. Sent once, never retried. */

import { AirelayError, errorFromResponse, networkError } from './errors.js';
import { endpoint, fetchOf, type CallOptions } from './http.js';
import { parsePart, readEvents } from './sse.js';
import type { ChatStatus, ChatStreamRequest, FinishReason, StreamFailure, StreamPart, StreamUsage } from './types.js';

export interface StreamOptions extends CallOptions {
  /** Called on every status change. */
  onStatus?: (status: ChatStatus) => void;
}

export interface StreamUpdate {
  part: StreamPart;
  /** The answer's text so far (all `text-delta`s up to and including this part). */
  text: string;
}

export interface ChatResult {
  text: string;
  finishReason: FinishReason | null;
  usage: StreamUsage | null;
  messageId: string | null;
  /** True when the answer was stopped (`stop()`, the caller's signal, or leaving the loop early). */
  stopped: boolean;
}

export class ChatStream implements AsyncIterable<StreamUpdate> {
  #status: ChatStatus = 'submitted';
  #text = '';
  #usage: StreamUsage | null = null;
  #finishReason: FinishReason | null = null;
  #messageId: string | null = null;
  #error: AirelayError | null = null;
  #failure: StreamFailure | null = null; // the data-error part that comes before an error part
  #stopped = false;
  #read = false;
  #detach = (): void => {};
  readonly #controller = new AbortController();
  readonly #response: Promise<Response>;
  readonly #onStatus: ((status: ChatStatus) => void) | undefined;
  readonly #result: Promise<ChatResult>;
  #settle!: { resolve: (result: ChatResult) => void; reject: (error: AirelayError) => void };

  constructor(request: ChatStreamRequest, options: StreamOptions = {}) {
    this.#onStatus = options.onStatus;
    this.#result = new Promise<ChatResult>((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    this.#result.catch(() => {}); // reported through the iterator or done(); never an unhandled rejection
    const { signal } = options;
    if (signal?.aborted) this.#controller.abort(signal.reason);
    else if (signal) {
      const abort = () => this.#controller.abort(signal.reason);
      signal.addEventListener('abort', abort, { once: true });
      this.#detach = () => signal.removeEventListener('abort', abort); // a settled answer lets go of a shared signal
    }
    this.#response = fetchOf(options)(endpoint(options, '/api/chat/stream'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...options.headers },
      body: JSON.stringify(request),
      signal: this.#controller.signal,
    });
    this.#response.catch(() => {});
  }

  get status(): ChatStatus { return this.#status; }
  get text(): string { return this.#text; }
  get usage(): StreamUsage | null { return this.#usage; }
  get finishReason(): FinishReason | null { return this.#finishReason; }
  get messageId(): string | null { return this.#messageId; }
  get error(): AirelayError | null { return this.#error; }
  get stopped(): boolean { return this.#stopped; }

  /** Ends the answer: the connection is closed (the server then closes its upstream request); the text so far stays,
   * and no later part is yielded, even one that arrived with the last. */
  stop(): void {
    if (this.#status === 'ready' || this.#status === 'error') return;
    this.#stopped = true;
    this.#controller.abort();
  }

  [Symbol.asyncIterator](): AsyncGenerator<StreamUpdate, void, undefined> {
    if (this.#read) throw new Error('A ChatStream can be read only once.');
    this.#read = true;
    return this.#run();
  }

  /** Reads the stream to its end (unless a loop already does) and resolves with the result; rejects with the
   * `AirelayError` that ended it. */
  async done(): Promise<ChatResult> {
    if (!this.#read) {
      for await (const _ of this) {
        // consume
      }
    }
    return this.#result;
  }

  async *#run(): AsyncGenerator<StreamUpdate, void, undefined> {
    let response: Response;
    try {
      response = await this.#response;
    } catch (cause) {
      if (this.#controller.signal.aborted) return this.#end(true);
      throw this.#fail(networkError(cause));
    }
    if (!response.ok) {
      const error = await errorFromResponse(response);
      if (this.#controller.signal.aborted) return this.#end(true); // stopped while the error body was read
      throw this.#fail(error);
    }
    const type = (response.headers.get('content-type') ?? '').toLowerCase();
    if (!type.startsWith('text/event-stream') || response.body === null) {
      await response.body?.cancel().catch(() => {});
      throw this.#fail(failure(response.status, 'bad_response', 'The server did not send an event stream.'));
    }
    let left = true; // the consumer left the loop early, unless the stream ends or fails
    try {
      for await (const data of readEvents(response.body)) {
        if (this.#controller.signal.aborted) break;
        const part = parsePart<StreamPart>(data, response.status);
        if (this.#status === 'submitted') this.#setStatus('streaming');
        const failed = this.#apply(part, response.status);
        yield { part, text: this.#text };
        if (failed) throw failed;
      }
      left = false;
    } catch (error) {
      left = false;
      if (error === this.#error) throw error;
      if (this.#controller.signal.aborted) return this.#end(true);
      if (error instanceof AirelayError) throw this.#fail(error);
      // the server answered, and the body broke: the stream was cut, the server was reached
      throw this.#fail(failure(response.status, 'stream_incomplete', 'The connection ended before the answer was finished.', error));
    } finally {
      if (left && this.#status === 'streaming') {
        this.#controller.abort();
        this.#end(true);
      }
    }
    if (this.#stopped || this.#controller.signal.aborted) return this.#end(true);
    if (this.#finishReason === null) {
      throw this.#fail(failure(response.status, 'stream_incomplete', 'The connection ended before the answer was finished.'));
    }
    if (this.#finishReason === 'error') throw this.#fail(failure(response.status, 'stream_error', 'The answer ended with an error.'));
    this.#end(false);
  }

  /** Applies one part to the state; returns the error an `error` part stands for. */
  #apply(part: StreamPart, status: number): AirelayError | null {
    switch (part.type) {
      case 'start':
        if (typeof part.messageId === 'string') this.#messageId = part.messageId;
        break;
      case 'text-delta':
        if (typeof part.delta === 'string') this.#text += part.delta;
        break;
      case 'data-usage':
        this.#usage = part.data;
        break;
      case 'finish':
        this.#finishReason = (part.finishReason as FinishReason | undefined) ?? 'other';
        break;
      case 'data-error':
        this.#failure = part.data;
        break;
      case 'abort':
        this.#stopped = true;
        break;
      case 'error': {
        const said = this.#failure;
        const message = part.errorText || 'The answer failed.';
        if (said === null) return this.#fail(failure(status, 'stream_error', message));
        return this.#fail(new AirelayError({ status: said.status, code: said.code, message, retryAfter: said.retryAfter ?? null }));
      }
      default:
        break;
    }
    return null;
  }

  #setStatus(status: ChatStatus): void {
    if (this.#status === status) return;
    this.#status = status;
    this.#onStatus?.(status);
  }

  #end(stopped: boolean): void {
    if (this.#status === 'ready' || this.#status === 'error') return;
    this.#stopped ||= stopped;
    this.#detach();
    this.#setStatus('ready');
    this.#settle.resolve({
      text: this.#text,
      finishReason: this.#finishReason,
      usage: this.#usage,
      messageId: this.#messageId,
      stopped: this.#stopped,
    });
  }

  #fail(error: AirelayError): AirelayError {
    if (this.#error === null) {
      this.#error = error;
      this.#detach();
      this.#setStatus('error');
      this.#settle.reject(error);
    }
    return this.#error;
  }
}

/** Sends the request now and returns the stream to read: `for await (const {part, text} of streamChat(...))`. */
export function streamChat(request: ChatStreamRequest, options: StreamOptions = {}): ChatStream {
  return new ChatStream(request, options);
}

function failure(status: number, code: string, message: string, cause?: unknown): AirelayError {
  return new AirelayError({ status, code, message, cause });
}
