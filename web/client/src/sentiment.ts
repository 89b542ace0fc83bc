import { postJson, type CallOptions } from './http.js';
import type { SentimentRequest, SentimentResult } from './types.js';

/** `POST /api/sentiment`: positive, negative or neutral, with a score and the words that lean that way. */
export function sentiment(text: string, options: CallOptions = {}): Promise<SentimentResult> {
  const body: SentimentRequest = { text };
  return postJson<SentimentResult>(options, '/api/sentiment', body);
}
