/** The API's request and response shapes (see the project README). */

export type Persona = 'assistant' | 'customer_support' | 'code_teacher' | 'json_extractor';

export interface ChatTurn {
  role: 'user' | 'assistant';
  content: string;
}

export interface ChatRequest {
  message: string;
  conversation_history?: ChatTurn[];
  persona?: Persona | (string & {});
  model?: string;
  temperature?: number;
  max_tokens?: number;
  top_p?: number;
  frequency_penalty?: number;
  presence_penalty?: number;
}

export type FinishReason = 'stop' | 'length' | 'content-filter' | 'tool-calls' | 'error' | 'other';

export interface ChatResponse {
  response: string;
  tokens_used: number;
  usage: { prompt_tokens: number; completion_tokens: number; cached_tokens: number; estimated: boolean };
  model: string;
  finish_reason: FinishReason | (string & {});
}

/** The `data-usage` part of a streamed answer. */
export interface StreamUsage {
  model?: string;
  inputTokens: number;
  outputTokens: number;
  cachedTokens?: number;
  estimated?: boolean;
  costUsd?: number;
  costKrw?: number;
}

/** The parts of the AI SDK UI message stream (v5) that airelay sends, and the other ones a v5 client knows. */
export type StreamPart =
  | { type: 'start'; messageId?: string; messageMetadata?: unknown }
  | { type: 'start-step' }
  | { type: 'finish-step' }
  | { type: 'text-start'; id: string }
  | { type: 'text-delta'; id: string; delta: string }
  | { type: 'text-end'; id: string }
  | { type: 'reasoning-start'; id: string }
  | { type: 'reasoning-delta'; id: string; delta: string }
  | { type: 'reasoning-end'; id: string }
  | { type: 'data-usage'; data: StreamUsage; transient?: boolean }
  | { type: 'error'; errorText: string }
  | { type: 'abort' }
  | { type: 'finish'; finishReason?: FinishReason; messageMetadata?: unknown }
  | { type: 'message-metadata'; messageMetadata: unknown }
  | { type: 'source-url' | 'source-document' | 'file'; [field: string]: unknown };

export type ChatStatus = 'submitted' | 'streaming' | 'ready' | 'error';

export interface SentimentResult {
  sentiment: 'positive' | 'negative' | 'neutral';
  score: number;
  keywords: string[];
  model: string;
}

export interface ImageLabel {
  label: string;
  score: number;
}

export interface ClassifyResult {
  labels: ImageLabel[];
  model: string;
}

export interface FaqMatch {
  id: string;
  question: string;
  score: number;
}

export interface FaqAnswer {
  source: 'faq' | 'model' | 'handoff';
  answer: string;
  confidence: number;
  faq_id?: string;
  matched_question?: string;
  matches?: FaqMatch[];
}

export interface UsageRow {
  key: string;
  calls: number;
  /** Calls that failed. */
  errors: number;
  /** Calls the client cancelled (a stopped stream); not counted in `errors`. */
  cancelled: number;
  prompt_tokens: number;
  cached_tokens: number;
  completion_tokens: number;
  cost_usd: number;
  cost_krw: number;
}

/** Today's budget: the global one in an operator's report (`scope: 'all'`), else the caller's own. */
export interface UsageBudget {
  day: string;
  limit_usd: number;
  used_usd: number;
  remaining_usd: number;
  resets_in_s: number;
  caller?: { identity: string; limit_usd: number; used_usd: number; remaining_usd: number };
}

export interface UsageReport {
  from: string;
  to: string;
  by: 'day' | 'model' | 'identity';
  /** `caller`: the caller's own usage; `all`: every caller's (an operator's key or sign-in claim). */
  scope: 'caller' | 'all';
  rows: UsageRow[];
  total: UsageRow;
  budget: UsageBudget;
  prices: unknown;
}
