import { postJson, type CallOptions } from './http.js';
import type { ChatRequest, ChatResponse } from './types.js';

/** `POST /api/chat`: the whole answer as one JSON object. Sent once; never retried by the client. */
export function chat(request: ChatRequest, options: CallOptions = {}): Promise<ChatResponse> {
  return postJson<ChatResponse>(options, '/api/chat', request);
}
