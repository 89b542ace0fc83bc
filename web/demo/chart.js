// A bar chart as inline SVG, drawn with DOM calls (no library, no innerHTML). Colours come from the CSS.
const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 360;
const HEIGHT = 168;
const PAD = { top: 18, right: 8, bottom: 34, left: 8 };

function el(name, attributes = {}, text = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

/**
 * Draws `points` ([{label, sublabel, value, title, highlight}]) into `container` as one <svg role="img">.
 * `format` turns a value into its label; `summary` is what a screen reader hears (the table below says the rest).
 */
export function drawBarChart(container, points, { format, summary, empty }) {
  const svg = el('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': summary, class: 'chart__svg' });
  const max = Math.max(0, ...points.map((p) => p.value));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const baseY = PAD.top + plotH;
  const slot = plotW / Math.max(1, points.length);
  const barW = Math.min(34, slot * 0.62);

  svg.append(el('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: PAD.top, y2: PAD.top, class: 'chart__grid' }));
  svg.append(el('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: PAD.top + plotH / 2, y2: PAD.top + plotH / 2, class: 'chart__grid' }));

  points.forEach((point, index) => {
    const cx = PAD.left + slot * index + slot / 2;
    const h = max > 0 ? Math.max(point.value > 0 ? 2 : 0, (point.value / max) * plotH) : 0;
    const group = el('g', { class: point.highlight ? 'chart__bar chart__bar--today' : 'chart__bar' });
    group.append(el('title', {}, point.title));
    group.append(el('rect', { x: cx - barW / 2, y: baseY - h, width: barW, height: h, rx: Math.min(4, h / 2) }));
    if (point.value > 0) {
      group.append(el('text', { x: cx, y: baseY - h - 5, class: 'chart__value', 'text-anchor': 'middle' }, format(point.value)));
    }
    group.append(el('text', { x: cx, y: baseY + 14, class: 'chart__label', 'text-anchor': 'middle' }, point.label));
    group.append(el('text', { x: cx, y: baseY + 27, class: 'chart__sublabel', 'text-anchor': 'middle' }, point.sublabel));
    svg.append(group);
  });

  svg.append(el('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: baseY, y2: baseY, class: 'chart__axis' }));
  if (max === 0) {
    svg.append(el('text', { x: WIDTH / 2, y: PAD.top + plotH / 2 + 4, class: 'chart__empty', 'text-anchor': 'middle' }, empty));
  }
  container.replaceChildren(svg);
}
