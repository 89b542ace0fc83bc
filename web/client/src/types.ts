/** Readable names for the API's request and response shapes. Every JSON shape is generated from the OpenAPI
 * document (`make openapi` writes docs/openapi.json; `npm run generate` turns it into api-types.ts): nothing here
 * repeats a field. The stream's parts are named here because the document gives them only as the JSON schema of each
 * server-sent event's `data`, which openapi-typescript does not turn into a union; their fields are generated. */

import type { components, paths } from './api-types.js';

type Operation<P extends keyof paths, M extends keyof paths[P]> = paths[P][M];

type JsonBody<P extends keyof paths, M extends keyof paths[P]> =
  Operation<P, M> extends { requestBody?: { content: { 'application/json': infer Body } } } ? Body : never;

type JsonAnswer<P extends keyof paths, M extends keyof paths[P]> =
  Operation<P, M> extends { responses: { 200: { content: { 'application/json': infer Answer } } } } ? Answer : never;

/** `POST /api/chat`'s body. */
export type ChatRequest = JsonBody<'/api/chat', 'post'>;
export type ChatTurn = NonNullable<ChatRequest['conversation_history']>[number];
export type ChatResponse = JsonAnswer<'/api/chat', 'post'>;

/** `POST /api/chat/stream`'s body: a `ChatRequest`, or the AI SDK's `{messages}` that `useChat` sends. */
export type ChatStreamRequest = JsonBody<'/api/chat/stream', 'post'>;

export type SentimentRequest = JsonBody<'/api/sentiment', 'post'>;
export type SentimentResult = JsonAnswer<'/api/sentiment', 'post'>;

/** `POST /api/image/classify` as JSON (a file goes to `/api/image/classify/upload` as a multipart upload). */
export type ClassifyRequest = JsonBody<'/api/image/classify', 'post'>;
export type ClassifyResult = JsonAnswer<'/api/image/classify', 'post'>;
export type ImageLabel = ClassifyResult['labels'][number];

export type FaqRequest = JsonBody<'/api/faq', 'post'>;
/** `source: 'faq'` carries the matched entry and the nearest ones; `'model'` and `'handoff'` only the answer. */
export type FaqAnswer = JsonAnswer<'/api/faq', 'post'>;
export type FaqMatch = Extract<FaqAnswer, { source: 'faq' }>['matches'][number];

/** `GET /api/usage`'s query: the last `days`, or `from`..`to`, grouped `by` day, model or caller. */
export type UsageQuery = NonNullable<Operation<'/api/usage', 'get'>['parameters']['query']>;
export type UsageReport = JsonAnswer<'/api/usage', 'get'>;
export type UsageRow = UsageReport['total'];
export type UsageBudget = UsageReport['budget'];

/** The body of every error answer. */
export type ErrorBody = Operation<'/api/chat', 'post'>['responses'][422]['content']['application/json'];

// The stream: AI SDK UI message stream (v5) parts, one JSON object per event.

type Schemas = components['schemas'];

/** The parts airelay sends: the schemas the document names for an event's data (a test compares the two). */
export const STREAM_PART_SCHEMAS = [
  'StartPart',
  'StepPart',
  'TextEdgePart',
  'TextDeltaPart',
  'ReasoningEdgePart',
  'ReasoningDeltaPart',
  'ToolInputStartPart',
  'ToolInputDeltaPart',
  'ToolInputAvailablePart',
  'ToolInputErrorPart',
  'ToolOutputAvailablePart',
  'ToolOutputErrorPart',
  'SourceDocumentPart',
  'ToolProofPart',
  'UsagePart',
  'ErrorDataPart',
  'FinishPart',
  'ErrorPart',
] as const;

export type FinishReason = 'stop' | 'length' | 'content-filter' | 'tool-calls' | 'error' | 'other';

/** The `data-usage` part of a streamed answer. */
export type StreamUsage = Schemas['StreamUsage'];
/** The `data-error` part: the status and code the failure would have had as an HTTP answer. */
export type StreamFailure = Schemas['StreamFailure'];

/** The parts airelay sends, and the other ones a v5 client knows. */
export type StreamPart =
  | Schemas[(typeof STREAM_PART_SCHEMAS)[number]]
  | { type: 'abort' }
  | { type: 'message-metadata'; messageMetadata: unknown }
  | { type: 'source-url' | 'file'; [field: string]: unknown };

export type ChatStatus = 'submitted' | 'streaming' | 'ready' | 'error';
