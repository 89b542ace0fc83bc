// The chat panel's conversation log: the user's bubbles and the assistant's, with the parts of an answer (text,
// reasoning, tool calls, sources, usage, notices, errors). Text from the model is only ever set as text, never as HTML.
import { formatKrw, formatSeconds, formatUsd, integer } from './format.js';

const log = document.getElementById('chat-log');
const userTemplate = document.getElementById('tpl-user-message');
const assistantTemplate = document.getElementById('tpl-assistant-message');

export function addUserMessage(text, image) {
  const root = userTemplate.content.firstElementChild.cloneNode(true);
  root.querySelector('.bubble__text').textContent = text;
  if (image) {
    const img = root.querySelector('.bubble__image');
    img.src = image.url;
    img.alt = `Attached image: ${image.name}`;
    img.hidden = false;
  }
  log.append(root);
  scrollToBottom();
}

export function addAssistantMessage() {
  const root = assistantTemplate.content.firstElementChild.cloneNode(true);
  const view = {
    root,
    parts: root.querySelector('.bubble__parts'), // the answer's texts, reasoning and tool calls, in the order sent
    text: null, // the text node being written, or null: the next delta opens a paragraph of its own
    errorBox: root.querySelector('.bubble__error'),
    errorText: root.querySelector('.bubble__error-text'),
    retry: root.querySelector('.retry'),
    notice: root.querySelector('.message__notice'),
    usage: root.querySelector('.message__usage'),
    sources: root.querySelector('.bubble__sources'),
    reasoning: null, // the <pre> of the reasoning block being written
    tools: new Map(), // toolCallId -> its <details>
  };
  log.append(root);
  scrollToBottom();
  return view;
}

export function removeAllMessages() {
  for (const message of log.querySelectorAll('.message')) message.remove();
}

export function resetAssistantView(view) {
  view.parts.replaceChildren();
  view.text = null;
  view.sources.replaceChildren();
  view.sources.hidden = true;
  view.reasoning = null;
  view.tools.clear();
  view.errorBox.hidden = true;
  view.errorText.textContent = '';
  view.notice.hidden = true;
  view.usage.hidden = true;
  setViewStatus(view, 'submitted');
  scrollToBottom();
}

export function setViewStatus(view, status) {
  view.root.dataset.status = status;
}

export function appendText(view, delta) {
  const follow = isNearBottom();
  if (view.text === null) {
    const paragraph = document.createElement('p');
    paragraph.className = 'bubble__text';
    view.text = document.createTextNode('');
    paragraph.append(view.text);
    view.parts.append(paragraph);
  }
  view.text.appendData(delta);
  if (follow) scrollToBottom();
}

/** The answer's texts as shown, a blank line between two parts (one step's text is not glued to the next one's). */
export function answerText(view) {
  return [...view.parts.querySelectorAll('.bubble__text')].map((p) => p.textContent).join('\n\n');
}

/** A text part's start (its text gets a paragraph of its own), reasoning, tool calls (name, input, output; collapsed)
 * and sources, as text only. */
export function showStepPart(view, part) {
  if (part.type === 'text-start') {
    view.text = null;
  } else if (part.type === 'reasoning-start') {
    view.reasoning = block(view, 'reasoning', 'Reasoning').querySelector('pre');
  } else if (part.type === 'reasoning-delta' && view.reasoning && typeof part.delta === 'string') {
    view.reasoning.append(part.delta);
  } else if (part.type === 'tool-input-available') {
    const details = block(view, 'tool', `Tool: ${part.toolName}`);
    details.dataset.tool = part.toolName;
    details.querySelector('pre').textContent = `input: ${JSON.stringify(part.input, null, 2)}`;
    view.tools.set(part.toolCallId, details);
  } else if (part.type === 'tool-output-available' || part.type === 'tool-output-error') {
    const details = view.tools.get(part.toolCallId);
    if (!details) return;
    const output = document.createElement('pre');
    output.className = 'tool__output';
    const error = part.type === 'tool-output-error';
    output.textContent = error ? `error: ${part.errorText}` : `output: ${JSON.stringify(part.output, null, 2)}`;
    details.dataset.state = error ? 'error' : 'done';
    details.append(output);
  } else if (part.type === 'source-document' || part.type === 'source-url') {
    const item = document.createElement('li');
    item.textContent = part.title ?? part.url ?? part.sourceId;
    view.sources.append(item);
    view.sources.hidden = false;
  }
}

function block(view, kind, title) {
  const details = document.createElement('details');
  details.className = `step step--${kind}`;
  const summary = document.createElement('summary');
  summary.textContent = title;
  details.append(summary, document.createElement('pre'));
  view.parts.append(details);
  view.text = null;
  return details;
}

export function showUsage(view, data) {
  const text = formatUsage(data);
  if (!text) return;
  const follow = isNearBottom();
  view.usage.textContent = text;
  view.usage.hidden = false;
  if (follow) scrollToBottom();
}

function formatUsage(data) {
  if (!data || typeof data !== 'object') return null;
  const { inputTokens, outputTokens, costUsd, costKrw, estimated } = data;
  if (!Number.isFinite(inputTokens) || !Number.isFinite(outputTokens)) return null;
  let text = `${integer.format(inputTokens)} in · ${integer.format(outputTokens)} out`;
  if (Number.isFinite(costUsd)) text += ` · ${formatUsd(costUsd)}`;
  if (Number.isFinite(costKrw)) text += ` (${formatKrw(costKrw)})`;
  if (estimated) text += ' · estimated';
  return text;
}

export function showNotice(view, text, kind) {
  const follow = isNearBottom();
  view.notice.textContent = text;
  view.notice.dataset.kind = kind;
  view.notice.hidden = false;
  if (follow) scrollToBottom();
}

export function showError(view, { message, detail, retryAfter }) {
  let text = message;
  if (retryAfter != null) text += ` You can retry in ${formatSeconds(retryAfter)}.`;
  view.errorText.textContent = text;
  if (detail) {
    const code = document.createElement('span');
    code.className = 'bubble__error-code';
    code.textContent = ` (${detail})`;
    view.errorText.append(code);
  }
  view.retry.hidden = false;
  view.errorBox.hidden = false;
  scrollToBottom();
}

export function hideRetry(view) {
  view.retry.hidden = true;
}

function isNearBottom() {
  return log.scrollHeight - log.scrollTop - log.clientHeight < 48;
}

function scrollToBottom() {
  log.scrollTop = log.scrollHeight;
}
