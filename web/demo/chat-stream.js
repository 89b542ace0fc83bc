// One chat turn over POST /api/chat/stream, through the client's streamChat, its answer rendered as it arrives. A turn
// with an attached image is posted the way the AI SDK's useChat posts one (messages with parts; the image a `file`
// part with a data: URL).
import { api, errorDetail, isAirelayError } from './api.js';
import { appendText, setViewStatus, showStepPart, showUsage } from './chat-messages.js';

// What the server keeps of a conversation by default (HISTORY_MAX_TURNS, HISTORY_MAX_CHARS, the new message counted):
// the newest turns within both. The page sends no more, or a long chat would grow past the body limit (a 413).
const HISTORY_TURNS = 20;
const HISTORY_CHARS = 24000;

/** Characters as the server counts them: code points (an emoji is one, not two UTF-16 units). */
const characters = (text) => [...text].length;

/** The newest turns of `history` that the server would keep beside `message`, starting with a user turn. */
export function recentHistory(history, message) {
  let room = HISTORY_CHARS - characters(message);
  const kept = [];
  for (const turn of history.slice(-HISTORY_TURNS).reverse()) {
    room -= characters(turn.content);
    if (room < 0) break;
    kept.unshift(turn);
  }
  while (kept.length > 0 && kept[0].role !== 'user') kept.shift();
  return kept;
}

export function buildRequestBody(chatId, turn, allHistory, settings) {
  const history = recentHistory(allHistory, turn.message);
  if (turn.image) return buildUiMessagesBody(chatId, turn, history, settings);
  return {
    message: turn.message,
    conversation_history: history.map(({ role, content }) => ({ role, content })),
    ...settings,
  };
}

/** The body useChat's DefaultChatTransport posts: the turns as UI messages, the new one with its image part. */
function buildUiMessagesBody(chatId, turn, history, settings) {
  const text = (role, content, id) => ({ id, role, parts: [{ type: 'text', text: content }] });
  const { name, mediaType, url } = turn.image;
  const user = text('user', turn.message, turn.id);
  user.parts.push({ type: 'file', mediaType, filename: name, url });
  const messages = [...history.map(({ role, content }, i) => text(role, content, `${turn.id}-${i}`)), user];
  return { id: chatId, messages, trigger: 'submit-message', ...settings };
}

/**
 * Sends one turn and renders its answer into `view`; `onStreaming` is called once, when the first text arrives.
 * Resolves to an outcome; a stop (the signal) is `stopped`.
 */
export async function streamAnswer(body, view, { signal, onStreaming }) {
  const stream = api.streamChat(body, { signal });
  let streaming = false;
  try {
    for await (const { part } of stream) {
      if (part.type === 'text-delta' && typeof part.delta === 'string' && part.delta !== '') {
        if (!streaming) {
          streaming = true;
          onStreaming();
          setViewStatus(view, 'streaming');
        }
        appendText(view, part.delta);
      } else if (part.type === 'data-usage') {
        showUsage(view, part.data);
      } else {
        showStepPart(view, part);
      }
      // start, steps, text-end, metadata: nothing to show; error, abort and finish: the client's
    }
  } catch (error) {
    if (!isAirelayError(error)) throw error;
    return { kind: 'error', message: error.message, detail: errorDetail(error), retryAfter: error.retryAfter };
  }
  const result = await stream.done();
  if (result.stopped) return { kind: 'stopped' };
  return { kind: 'done', finishReason: result.finishReason };
}
