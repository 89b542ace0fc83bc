import { postJson, type CallOptions } from './http.js';
import type { FaqAnswer, FaqRequest } from './types.js';

export interface FaqOptions extends CallOptions {
  /** How many near matches to return (1..FAQ_TOP_K_MAX on the server). */
  topK?: number;
}

/** `POST /api/faq`: an FAQ answer (`source: 'faq'`), the chat model's (`'model'`) or a hand-over (`'handoff'`). */
export function faq(question: string, options: FaqOptions = {}): Promise<FaqAnswer> {
  const { topK, ...call } = options;
  const body: FaqRequest = topK === undefined ? { question } : { question, top_k: topK };
  return postJson<FaqAnswer>(call, '/api/faq', body);
}
