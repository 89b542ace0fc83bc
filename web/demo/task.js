// One request at a time for a tool panel: busy state on its submit button and status line, the error with a
// Retry button (which repeats the last request), and a note to the cost dashboard afterwards.
import { announceUsage, errorDetail, isAirelayError } from './api.js';
import { formatSeconds } from './format.js';

export function createTask(panel, { busyText, doneText = '', announce = true }) {
  const status = panel.querySelector('[data-role="status"]');
  const statusText = status.querySelector('.status__text');
  const submit = panel.querySelector('button[type="submit"]');
  const errorBox = panel.querySelector('[data-role="error"]');
  const errorText = panel.querySelector('[data-role="error-text"]');
  const retry = panel.querySelector('[data-role="retry"]');
  const result = panel.querySelector('[data-role="result"]');
  let last = null;
  let controller = null;
  let refocus = false;

  function setState(state, text) {
    panel.dataset.state = state;
    status.dataset.status = state === 'busy' ? 'submitted' : state;
    statusText.textContent = text;
    const busy = state === 'busy';
    panel.setAttribute('aria-busy', String(busy));
    if (submit) {
      // A disabled button drops keyboard focus: give it back when the request is over.
      if (busy) refocus = document.activeElement === submit;
      submit.disabled = busy;
      submit.classList.toggle('is-busy', busy);
      if (!busy && refocus && document.activeElement === document.body) submit.focus();
    }
  }

  function showError(error) {
    let text = error?.message || 'Something went wrong.';
    if (error?.retryAfter != null) text += ` You can retry in ${formatSeconds(error.retryAfter)}.`;
    errorText.textContent = text;
    const detail = errorDetail(error);
    if (detail) {
      const code = document.createElement('span');
      code.className = 'panel-error__code';
      code.textContent = ` (${detail})`;
      errorText.append(code);
    }
    errorBox.hidden = false;
  }

  /** Runs `action(signal)`; a newer run aborts an older one. Resolves (never rejects) when it is over. */
  async function run(action) {
    last = action;
    controller?.abort();
    const mine = new AbortController();
    controller = mine;
    errorBox.hidden = true;
    setState('busy', busyText);
    try {
      await action(mine.signal);
      if (controller === mine) setState('ready', doneText);
    } catch (error) {
      if (mine.signal.aborted) return;
      if (!isAirelayError(error)) console.error(error);
      if (result) result.hidden = true;
      showError(error);
      setState('error', 'Error');
    } finally {
      if (controller === mine) {
        controller = null;
        if (announce) announceUsage();
      }
    }
  }

  retry.addEventListener('click', () => {
    if (last) run(last);
  });
  setState('ready', '');
  return { run };
}
