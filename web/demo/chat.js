// The demo page's chat panel: the conversation's state, its turns (send, retry, stop, new chat) and the image
// attached to the next message.
import { announceUsage } from './api.js';
import {
  addAssistantMessage, addUserMessage, answerText, hideRetry, removeAllMessages, resetAssistantView, setViewStatus,
  showError, showNotice,
} from './chat-messages.js';
import { buildRequestBody, streamAnswer } from './chat-stream.js';

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
  file: document.getElementById('chat-file'),
  attachment: document.getElementById('chat-attachment'),
  attachmentThumb: document.getElementById('chat-attachment-thumb'),
  attachmentName: document.getElementById('chat-attachment-name'),
  attachmentRemove: document.getElementById('chat-attachment-remove'),
  stop: document.getElementById('chat-stop'),
};

const chat = {
  id: crypto.randomUUID(), // useChat's chat id, for turns posted in its shape
  attachment: null, // the image for the next message: {name, mediaType, url}
  history: [], // the turns shown, done or stopped, oldest first: {role, content}
  controller: null, // AbortController of the answer in flight, if any
  retryable: null, // the failed turn whose Retry button is live (only the latest one)
};

// ---------------------------------------------------------------- state

function setStatus(status) {
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

function readSettings() {
  const settings = { persona: ui.persona.value };
  // The server is the authority on ranges: out-of-range values are sent and its 422 is shown.
  if (Number.isFinite(ui.maxTokens.valueAsNumber)) settings.max_tokens = ui.maxTokens.valueAsNumber;
  if (Number.isFinite(ui.temperature.valueAsNumber)) settings.temperature = ui.temperature.valueAsNumber;
  return settings;
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
  const image = chat.attachment;
  clearAttachment();
  addUserMessage(message, image);
  const turn = { id: crypto.randomUUID(), message, image, view: addAssistantMessage() };
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
  const body = buildRequestBody(chat.id, turn, chat.history, readSettings());
  let outcome;
  try {
    outcome = await streamAnswer(body, turn.view, {
      signal: controller.signal,
      onStreaming: () => setStatus('streaming'),
    });
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
    else if (answerText(view) === '') showNotice(view, 'The model sent an empty answer.', 'info');
    keepTurn(turn);
    setStatus('ready');
  } else if (outcome.kind === 'stopped') {
    setViewStatus(view, 'stopped');
    showNotice(view, answerText(view) === '' ? 'Stopped before the answer started.' : 'Stopped', 'info');
    keepTurn(turn);
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

/** The question and the answer as shown (a stopped one's partial text too) go with the next message. */
function keepTurn(turn) {
  const answer = answerText(turn.view);
  chat.history.push({ role: 'user', content: turn.message });
  if (answer !== '') chat.history.push({ role: 'assistant', content: answer });
}

function stopAnswer() {
  chat.controller?.abort();
}

function newChat() {
  if (isBusy()) return;
  chat.history = [];
  chat.id = crypto.randomUUID();
  chat.retryable = null;
  clearAttachment();
  removeAllMessages();
  ui.empty.hidden = false;
  setStatus('ready');
  ui.input.focus();
}

// ---------------------------------------------------------------- attachment

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

/** The chosen image waits for the next message; the server checks its type and size (its 4xx is shown). */
async function attachFile() {
  const [file] = ui.file.files;
  ui.file.value = '';
  if (!file) return;
  const url = await readAsDataUrl(file);
  chat.attachment = { name: file.name, mediaType: file.type || 'application/octet-stream', url };
  ui.attachmentThumb.src = url;
  ui.attachmentName.textContent = file.name;
  ui.attachment.hidden = false;
  ui.input.focus();
}

function clearAttachment() {
  chat.attachment = null;
  ui.attachment.hidden = true;
  ui.attachmentThumb.removeAttribute('src');
  ui.attachmentName.textContent = '';
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
  ui.file.addEventListener('change', () => attachFile().catch((error) => console.error('reading the image failed', error)));
  ui.attachmentRemove.addEventListener('click', () => {
    clearAttachment();
    ui.input.focus();
  });
  setStatus('ready');
}
