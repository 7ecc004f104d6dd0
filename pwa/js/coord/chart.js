// A small SVG line chart of households reached and restored over time. Built with DOM
// calls (no markup strings, no inline styles: CSP), colours from coord.css classes.
import { h } from '../shared/dom.js';
import { ct } from './strings.js';

const NS = 'http://www.w3.org/2000/svg';
const W = 320;
const H = 140;
const PAD = 24;

function svg(tag, attrs, ...kids) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const k of kids) if (k) el.append(k);
  return el;
}

function hm(ms) {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/** @param {{reached: Array<[number, number]>, restored: Array<[number, number]>, affected: number}} s */
export function progressChart(s, now = Date.now()) {
  const all = [...s.reached, ...s.restored];
  if (!all.length) return h('p.muted', null, '—');
  const t0 = Math.min(...all.map(([t]) => t));
  const t1 = Math.max(now, ...all.map(([t]) => t));
  const top = Math.max(1, s.affected);
  const x = (t) => PAD + ((t - t0) / Math.max(1, t1 - t0)) * (W - 2 * PAD);
  const y = (n) => H - PAD - (n / top) * (H - 2 * PAD);
  const line = (pts, cls) => {
    const steps = [[t0, 0], ...pts, [t1, pts.length ? pts[pts.length - 1][1] : 0]];
    const d = steps.map(([t, n], i) => `${i ? 'L' : 'M'}${x(t).toFixed(1)},${y(n).toFixed(1)}`).join(' ');
    return svg('path', { d, class: cls, fill: 'none' });
  };
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': ct('chart') },
    svg('line', { x1: PAD, y1: H - PAD, x2: W - PAD, y2: H - PAD, class: 'axis' }),
    svg('line', { x1: PAD, y1: PAD, x2: PAD, y2: H - PAD, class: 'axis' }),
    svg('text', { x: 2, y: PAD + 4, class: 'tick' }, String(top)),
    svg('text', { x: PAD, y: H - 6, class: 'tick' }, hm(t0)),
    svg('text', { x: W - PAD - 28, y: H - 6, class: 'tick' }, hm(t1)),
    line(s.reached, 'l-reached'),
    line(s.restored, 'l-restored'));
  return h('figure.chart-box', null, chart,
    h('figcaption.legend', null,
      h('span.legend-item', null, h('i.swatch.t-reached'), `${ct('reachedLine')} ${s.reached.length}`),
      h('span.legend-item', null, h('i.swatch.sw-restored'), `${ct('restoredLine')} ${s.restored.length}`)));
}
