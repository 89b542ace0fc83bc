import { Chat } from '@ai-sdk/react';
import { DefaultChatTransport } from 'ai';

// The Chat object that useChat renders: one per conversation. The persona and limits travel in `body`; the
// server keeps the system prompt and caps the history and max_tokens. Each answer's tokens and cost arrive
// as a transient `data-usage` part, so they reach onData but are not stored in the messages.
export function createChat(onUsage) {
  return new Chat({
    transport: new DefaultChatTransport({
      api: 'http://127.0.0.1:8000/api/chat/stream',
      body: { persona: 'assistant', max_tokens: 256 },
    }),
    onData: (part) => {
      if (part.type === 'data-usage') onUsage?.(part.data);
    },
  });
}
