import { Chat } from '@ai-sdk/react';
import { DefaultChatTransport, lastAssistantMessageIsCompleteWithToolCalls } from 'ai';

// A chat whose persona has tools (CHAT_TOOLS). Server-run tools need nothing here: their calls arrive with their
// output. A tool that runs in the browser (a ClientTool on the server) reaches onToolCall: run it, hand the result to
// addToolOutput (not awaited inside onToolCall), and sendAutomaticallyWhen posts the conversation again, so the
// answer goes on in the same message. The same code works with ai 5, 6 and 7.
export function createToolChat(runTool) {
  const chat = new Chat({
    transport: new DefaultChatTransport({
      api: 'http://127.0.0.1:8000/api/chat/stream',
      body: { persona: 'customer_support' },
    }),
    sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithToolCalls,
    onToolCall: async ({ toolCall }) => {
      const output = await runTool(toolCall.toolName, toolCall.input);
      chat.addToolOutput({ tool: toolCall.toolName, toolCallId: toolCall.toolCallId, output });
    },
  });
  return chat;
}
