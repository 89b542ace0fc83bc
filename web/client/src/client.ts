import { chat } from './chat.js';
import { faq, type FaqOptions } from './faq.js';
import type { CallOptions, ClientOptions } from './http.js';
import { classifyImage, type ImageInput } from './image.js';
import { sentiment } from './sentiment.js';
import { streamChat, type ChatStream, type StreamOptions } from './stream.js';
import type {
  ChatRequest, ChatResponse, ChatStreamRequest, ClassifyResult, FaqAnswer, SentimentResult, UsageQuery, UsageReport,
} from './types.js';
import { usage } from './usage.js';

type PerCall<T> = Omit<T, keyof ClientOptions>;

export interface Client {
  chat(request: ChatRequest, options?: PerCall<CallOptions>): Promise<ChatResponse>;
  streamChat(request: ChatStreamRequest, options?: PerCall<StreamOptions>): ChatStream;
  sentiment(text: string, options?: PerCall<CallOptions>): Promise<SentimentResult>;
  classifyImage(image: ImageInput, options?: PerCall<CallOptions>): Promise<ClassifyResult>;
  faq(question: string, options?: PerCall<FaqOptions>): Promise<FaqAnswer>;
  usage(query?: UsageQuery, options?: PerCall<CallOptions>): Promise<UsageReport>;
}

/** The same functions with the base URL, fetch and headers given once. */
export function createClient(defaults: ClientOptions = {}): Client {
  return {
    chat: (request, options) => chat(request, { ...defaults, ...options }),
    streamChat: (request, options) => streamChat(request, { ...defaults, ...options }),
    sentiment: (text, options) => sentiment(text, { ...defaults, ...options }),
    classifyImage: (image, options) => classifyImage(image, { ...defaults, ...options }),
    faq: (question, options) => faq(question, { ...defaults, ...options }),
    usage: (query, options) => usage(query, { ...defaults, ...options }),
  };
}
