// Cost dashboard: GET /api/usage (by day and by model, last 7 days; by kind of caller, today): today's spend against
// the budget, spend by model, a chart of the last 7 days, spend and refusals per kind of caller. A caller sees their
// own usage and budget; an operator (an operator key or sign-in claim) every caller's, the global budget and today's
// top callers. Refreshes after every call made from this page.
import { api } from './api.js';
import { formatCompact, formatKrw, formatPercent, formatSeconds, formatUsd, integer } from './format.js';
import { drawBarChart } from './chart.js';
import { setMeter } from './meter.js';
import { createTask } from './task.js';

const DAYS = 7;
const REFRESH_DELAY_MS = 400; // a streamed call settles its usage row just after its last byte

const METRICS = {
  cost: { of: (row) => row.cost_usd, format: formatUsd, noun: 'spend' },
  calls: { of: (row) => row.calls, format: (v) => integer.format(v), noun: 'calls' },
  tokens: { of: (row) => row.prompt_tokens + row.completion_tokens, format: formatCompact, noun: 'tokens' },
};

const $ = (id) => document.getElementById(id);

export function initDashboard() {
  const panel = $('dashboard-panel');
  const body = $('dashboard-body');
  const metric = $('chart-metric');
  const task = createTask(panel, { busyText: 'Updating…', announce: false });
  let byDay = null;
  let timer = null;

  async function load(signal) {
    const [days, models, kinds] = await Promise.all([
      api.usage({ days: DAYS, by: 'day' }, { signal }),
      api.usage({ days: DAYS, by: 'model' }, { signal }),
      api.usage({ days: 1, by: 'kind' }, { signal }),
    ]);
    byDay = days;
    panel.dataset.scope = days.scope;
    renderBudget(days.budget, days.scope);
    renderWeek(days);
    renderModels(models.rows);
    renderCallers(kinds);
    body.hidden = false;
    panel.dataset.updated = new Date().toISOString();
  }

  async function refresh() {
    await task.run(load);
    if (panel.dataset.state === 'ready') {
      const time = new Date().toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
      panel.querySelector('[data-role="status"] .status__text').textContent = `Updated ${time}`;
    }
  }

  document.addEventListener('airelay:usage', () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, REFRESH_DELAY_MS);
  });
  $('dashboard-refresh').addEventListener('click', refresh);
  metric.addEventListener('change', () => {
    if (byDay) renderWeek(byDay);
  });
  refresh();

  function renderWeek(report) {
    const chosen = METRICS[metric.value] ?? METRICS.cost;
    const today = report.budget?.day ?? report.to;
    const rows = [...report.rows].sort((a, b) => a.key.localeCompare(b.key));
    const points = rows.map((row) => {
      const date = new Date(`${row.key}T00:00:00Z`);
      const weekday = date.toLocaleDateString('en-US', { weekday: 'short', timeZone: 'UTC' });
      return {
        label: weekday,
        sublabel: row.key.slice(5).replace('-', '/'),
        value: chosen.of(row),
        highlight: row.key === today,
        title: `${row.key}: ${integer.format(row.calls)} calls, `
          + `${integer.format(row.prompt_tokens + row.completion_tokens)} tokens, ${formatUsd(row.cost_usd)}`,
      };
    });
    drawBarChart($('week-chart'), points, {
      format: chosen.format,
      empty: `No ${chosen.noun} in the last ${DAYS} days`,
      summary: `Bar chart of ${chosen.noun} per day, ${report.from} to ${report.to}: `
        + `${points.map((p) => `${p.sublabel} ${chosen.format(p.value)}`).join(', ')}.`,
    });
    $('week-total').textContent = `${formatUsd(report.total.cost_usd)} (${formatKrw(report.total.cost_krw)}) · `
      + `${integer.format(report.total.calls)} calls · ${integer.format(report.total.errors)} failed · `
      + `${integer.format(report.total.cancelled)} cancelled · `
      + `${integer.format(report.total.prompt_tokens + report.total.completion_tokens)} tokens`;
    $('week-total').dataset.calls = String(report.total.calls);
    $('week-table').replaceChildren(...rows.map((row) => tableRow([
      row.key, integer.format(row.calls), integer.format(row.prompt_tokens + row.completion_tokens), formatUsd(row.cost_usd),
    ])));
  }
}

function renderBudget(budget, scope) {
  const fraction = budget.limit_usd > 0 ? budget.used_usd / budget.limit_usd : 0;
  $('budget-used').textContent = formatUsd(budget.used_usd);
  $('budget-limit').textContent = formatUsd(budget.limit_usd);
  const bar = $('budget-bar');
  setMeter(bar, fraction, `${formatUsd(budget.used_usd)} of ${formatUsd(budget.limit_usd)} used`);
  bar.dataset.level = fraction >= 0.9 ? 'high' : fraction >= 0.7 ? 'medium' : 'low';
  $('budget-detail').textContent = `${formatPercent(fraction, fraction > 0 && fraction < 0.01 ? 2 : 0)} used · `
    + `${formatUsd(budget.remaining_usd)} left · resets in ${formatSeconds(budget.resets_in_s)}`;
  const caller = budget.caller;
  const you = caller ? `you (${caller.identity}): ${formatUsd(caller.used_usd)} of ${formatUsd(caller.limit_usd)}` : '';
  $('budget-caller').textContent = scope === 'all'
    ? ['Every caller (operator view)', you].filter(Boolean).join(' · ')
    : `Your own usage${caller ? ` (${caller.identity})` : ''}`;
}

function renderModels(rows) {
  $('models-empty').hidden = rows.length > 0;
  $('models-table').hidden = rows.length === 0;
  $('models-rows').replaceChildren(...rows.map((row) => {
    const tr = tableRow(['', integer.format(row.calls), formatUsd(row.cost_usd)]);
    tr.dataset.model = row.key;
    // "openai/gpt-4o-mini": the name stands out, the provider and the tokens go on the small line below it
    const slash = row.key.indexOf('/');
    const name = document.createElement('span');
    name.className = 'model__name';
    name.textContent = slash === -1 ? row.key : row.key.slice(slash + 1);
    const note = document.createElement('span');
    note.className = 'data-table__note';
    const tokens = `${integer.format(row.prompt_tokens)} in · ${integer.format(row.completion_tokens)} out`;
    note.textContent = [slash === -1 ? '' : row.key.slice(0, slash), row.prompt_tokens + row.completion_tokens ? tokens : '']
      .filter(Boolean).join(' · ');
    tr.firstElementChild.append(name, note);
    for (const [count, word, modifier] of [[row.errors, 'failed', ' data-table__note--error'], [row.cancelled, 'cancelled', '']]) {
      if (!count) continue;
      const counted = document.createElement('span');
      counted.className = `data-table__note${modifier}`;
      counted.textContent = `${integer.format(count)} ${word}`;
      tr.firstElementChild.append(counted);
    }
    return tr;
  }));
}

const KINDS = { user: 'Signed-in users', key: 'Servers (API keys)', visitor: 'Visitors (token)', ip: 'Visitors (address)' };

function renderCallers(report) {
  const rows = report.rows.filter((row) => row.calls || row.refused);
  $('kinds-empty').hidden = rows.length > 0;
  $('kinds-table').hidden = rows.length === 0;
  const cells = (row, name) => [name, integer.format(row.calls), integer.format(row.refused), formatUsd(row.cost_usd)];
  $('kinds-rows').replaceChildren(...rows.map((row) => {
    const tr = tableRow(cells(row, KINDS[row.key] ?? row.key));
    tr.dataset.kind = row.key;
    return tr;
  }));
  const top = report.top ?? [];
  $('top-block').hidden = top.length === 0; // operators only: the API sends `top` to no one else
  $('top-rows').replaceChildren(...top.map((row) => {
    const tr = tableRow(cells(row, row.key));
    tr.dataset.identity = row.key;
    return tr;
  }));
}

function tableRow(cells) {
  const tr = document.createElement('tr');
  cells.forEach((text, index) => {
    const cell = document.createElement(index === 0 ? 'th' : 'td');
    if (index === 0) cell.scope = 'row';
    cell.textContent = text;
    tr.append(cell);
  });
  return tr;
}
