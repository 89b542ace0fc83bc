// The demo page's chat panel: POST /api/chat/stream through the client's streamChat, rendered as it arrives.
// Text from the model is only ever set as text, never as HTML.
import { announceUsage, api, errorDetail, isAirelayError } from './api.js';
import { formatKrw, formatSeconds, formatUsd, integer } from './format.js';

const STATUS_TEXT = {
  ready: 'Ready',
  submitted: 'Waiting for the answer…',
  streaming: 'Streaming…',
  error: 'Error',
};

const ui = {
  panel: document.getElementById('chat-panel'),
  status: document.getElementById('chat-status'),
  statusText: document.querySelector('#chat-status .status__text'),
  persona: document.getElementById('chat-persona'),
  maxTokens: document.getElementById('chat-max-tokens'),
  temperature: document.getElementById('chat-temperature'),
  clear: document.getElementById('chat-clear'),
  log: document.getElementById('chat-log'),
  empty: document.getElementById('chat-empty'),
  form: document.getElementById('chat-form'),
  input: document.getElementById('chat-input'),
  send: document.getElementById('chat-send'),
  stop: document.getElementById('chat-stop'),
  userTemplate: document.getElementById('tpl-user-message'),
  assistantTemplate: document.getElementById('tpl-assistant-message'),
};

const chat = {
  status: 'ready',
  history: [], // completed turns of this page, oldest first: {role, content}
  controller: null, // AbortController of the answer in flight, if any
  retryable: null, // the failed turn whose Retry button is live (only the latest one)
};

// ---------------------------------------------------------------- state

function setStatus(status) {
  chat.status = status;
  const busy = status === 'submitted' || status === 'streaming';
  ui.panel.dataset.status = status;
  ui.status.dataset.status = status;
  ui.statusText.textContent = STATUS_TEXT[status];
  ui.send.disabled = busy;
  ui.stop.disabled = !busy;
  ui.clear.disabled = busy;
  // Screen readers announce the log once the answer is complete, not token by token.
  ui.log.setAttribute('aria-busy', String(busy));
}

function isBusy() {
  return chat.controller !== null;
}

// ---------------------------------------------------------------- request

function readSettings() {
  const settings = { persona: ui.persona.value };
  // The server is the authority on ranges: out-of-range values are sent and its 422 is shown.
  if (Number.isFinite(ui.maxTokens.valueAsNumber)) settings.max_tokens = ui.maxTokens.valueAsNumber;
  if (Number.isFinite(ui.temperature.valueAsNumber)) settings.temperature = ui.temperature.valueAsNumber;
  return settings;
}

function buildRequestBody(message, history, settings) {
  return {
    message,
    conversation_history: history.map(({ role, content }) => ({ role, content })),
    ...settings,
  };
}

/** Sends one turn and renders its answer into `view`. Resolves to an outcome; a stop (the signal) is `stopped`. */
async function streamAnswer(body, view, signal) {
  const stream = api.streamChat(body, { signal });
  try {
    for await (const { part } of stream) {
      if (part.type === 'text-delta' && typeof part.delta === 'string' && part.delta !== '') {
        if (chat.status !== 'streaming') {
          setStatus('streaming');
          setViewStatus(view, 'streaming');
        }
        appendText(view, part.delta);
      } else if (part.type === 'data-usage') {
        showUsage(view, part.data);
      } else {
        showStepPart(view, part);
      }
      // start, steps, text-start/-end, metadata: nothing to show; error, abort and finish: the client's
    }
  } catch (error) {
    if (!isAirelayError(error)) throw error;
    return { kind: 'error', message: error.message, detail: errorDetail(error), retryAfter: error.retryAfter };
  }
  const result = await stream.done();
  if (result.stopped) return { kind: 'stopped' };
  return { kind: 'done', finishReason: result.finishReason, text: result.text };
}

// ---------------------------------------------------------------- turns

function sendMessage() {
  if (isBusy()) return;
  const message = ui.input.value;
  if (message.trim() === '') {
    ui.input.focus();
    return;
  }
  ui.input.value = '';
  ui.empty.hidden = true;
  addUserMessage(message);
  const turn = { message, view: addAssistantMessage() };
  turn.view.retry.addEventListener('click', () => retryTurn(turn));
  ui.input.focus();
  runTurn(turn);
}

function retryTurn(turn) {
  if (isBusy() || chat.retryable !== turn) return;
  ui.input.focus();
  runTurn(turn);
}

async function runTurn(turn) {
  const controller = new AbortController();
  chat.controller = controller;
  if (chat.retryable) hideRetry(chat.retryable.view);
  chat.retryable = null;
  resetAssistantView(turn.view);
  setStatus('submitted');

  // The history is read now: a retried turn is sent with the current settings and the turns completed so far.
  const body = buildRequestBody(turn.message, chat.history, readSettings());
  let outcome;
  try {
    outcome = await streamAnswer(body, turn.view, controller.signal);
  } catch (error) {
    console.error('chat stream failed', error);
    outcome = { kind: 'error', message: 'Something went wrong while reading the answer.' };
  }
  chat.controller = null;
  finishTurn(turn, outcome);
  announceUsage();
}

function finishTurn(turn, outcome) {
  const { view } = turn;
  const stopFocused = document.activeElement === ui.stop;
  if (outcome.kind === 'done') {
    setViewStatus(view, 'done');
    if (outcome.finishReason === 'length') showNotice(view, 'The answer hit the max_tokens limit.', 'warning');
    else if (outcome.finishReason === 'content-filter') showNotice(view, 'The answer was stopped by the content filter.', 'warning');
    else if (outcome.text === '') showNotice(view, 'The model sent an empty answer.', 'info');
    chat.history.push({ role: 'user', content: turn.message }, { role: 'assistant', content: outcome.text });
    setStatus('ready');
  } else if (outcome.kind === 'stopped') {
    setViewStatus(view, 'stopped');
    showNotice(view, view.text.data === '' ? 'Stopped before the answer started.' : 'Stopped', 'info');
    setStatus('ready');
  } else {
    setViewStatus(view, 'error');
    showError(view, outcome);
    chat.retryable = turn;
    setStatus('error');
  }
  // Stop is disabled now: do not leave keyboard focus on a disabled button.
  if (stopFocused || document.activeElement === document.body) ui.input.focus();
}

function stopAnswer() {
  chat.controller?.abort();
}

function newChat() {
  if (isBusy()) return;
  chat.history = [];
  chat.retryable = null;
  for (const message of ui.log.querySelectorAll('.message')) message.remove();
  ui.empty.hidden = false;
  setStatus('ready');
  ui.input.focus();
}

// ---------------------------------------------------------------- rendering

function addUserMessage(text) {
  const root = ui.userTemplate.content.firstElementChild.cloneNode(true);
  root.querySelector('.bubble__text').textContent = text;
  ui.log.append(root);
  scrollToBottom();
}

function addAssistantMessage() {
  const root = ui.assistantTemplate.content.firstElementChild.cloneNode(true);
  const view = {
    root,
    text: document.createTextNode(''),
    errorBox: root.querySelector('.bubble__error'),
    errorText: root.querySelector('.bubble__error-text'),
    retry: root.querySelector('.retry'),
    notice: root.querySelector('.message__notice'),
    usage: root.querySelector('.message__usage'),
    steps: root.querySelector('.bubble__steps'),
    sources: root.querySelector('.bubble__sources'),
    reasoning: null, // the <pre> of the reasoning block being written
    tools: new Map(), // toolCallId -> its <details>
  };
  root.querySelector('.bubble__text').append(view.text);
  ui.log.append(root);
  scrollToBottom();
  return view;
}

function resetAssistantView(view) {
  view.text.data = '';
  view.steps.replaceChildren();
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

function setViewStatus(view, status) {
  view.root.dataset.status = status;
}

function appendText(view, delta) {
  const follow = isNearBottom();
  view.text.appendData(delta);
  if (follow) scrollToBottom();
}

/** Reasoning, tool calls (name, input, output; collapsed) and sources, as text only. */
function showStepPart(view, part) {
  if (part.type === 'reasoning-start') {
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
  view.steps.append(details);
  return details;
}

function showUsage(view, data) {
  const text = formatUsage(data);
  if (!text) return;
  const follow = isNearBottom();
  view.usage.textContent = text;
  view.usage.hidden = false;
  if (follow) scrollToBottom();
}

function showNotice(view, text, kind) {
  const follow = isNearBottom();
  view.notice.textContent = text;
  view.notice.dataset.kind = kind;
  view.notice.hidden = false;
  if (follow) scrollToBottom();
}

function showError(view, { message, detail, retryAfter }) {
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

function hideRetry(view) {
  view.retry.hidden = true;
}

function isNearBottom() {
  return ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 48;
}

function scrollToBottom() {
  ui.log.scrollTop = ui.log.scrollHeight;
}

// ---------------------------------------------------------------- formatting

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

// ---------------------------------------------------------------- events

function onInputKeydown(event) {
  // isComposing / 229: Enter that confirms a Korean (IME) syllable must not send the message.
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
    event.preventDefault();
    sendMessage();
  }
}

function onPanelKeydown(event) {
  if (event.key === 'Escape' && isBusy()) {
    event.preventDefault();
    stopAnswer();
  }
}

export function initChat() {
  ui.form.addEventListener('submit', (event) => {
    event.preventDefault();
    sendMessage();
  });
  ui.input.addEventListener('keydown', onInputKeydown);
  ui.panel.addEventListener('keydown', onPanelKeydown);
  ui.stop.addEventListener('click', stopAnswer);
  ui.clear.addEventListener('click', newChat);
  setStatus('ready');
}
