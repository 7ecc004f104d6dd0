// One incident on the coordinator's screen: live counters, levers, chart, needs, board.
import { h } from '../shared/dom.js';
import { label } from '../shared/i18n.js';
import { ctx } from '../shared/context.js';
import { titleBar, screen } from '../volunteer/screen.js';
import { ct } from './strings.js';
import { board, legend } from './board.js';
import { needsList } from './needs-list.js';
import { checksPanel } from './checks-panel.js';
import { progressChart } from './chart.js';
import { series } from './model.js';
import { statusControls, updateForm, updatesList, shareBox } from './controls.js';

const COUNTERS = [
  ['affected', 'affected'], ['visited', 'visited'], ['reached', 'reached'],
  ['vulnerable', 'vulnerable'], ['vulnerable_reached', 'vulnReached'],
  ['needs_open', 'needsOpen'], ['heaters_out', 'heatersOut'], ['restored', 'restored'],
];

export function counters(p) {
  return h('div.counters', { dataset: { seq: p ? String(p.seq) : '' } }, COUNTERS.map(([key, word]) =>
    h('div.counter', { dataset: { key } },
      h('span.c-value', null, p ? String(p[key]) : '…'),
      h('span.c-label', null, ct(word)))));
}

export function incidentView(id) {
  const { replica } = ctx.store;
  const inc = replica.get('incidents', id);
  if (!inc) return screen(titleBar('—', { back: '/' }), h('p.empty', null, ct('noIncidents')));
  const p = ctx.progress.get(id);
  if (!p) ctx.fetchProgress?.(id);
  return h('section.screen.dash', null,
    titleBar(inc.title || label('kind', inc.kind || 'other'), {
      back: '/', actions: [h('a.small-btn.assign-link', { href: `#/i/${encodeURIComponent(id)}/assign` }, ct('assign'))],
    }),
    h('p.progress-line', null, label('kind', inc.kind || 'other'), ' · ', label('istatus', inc.status || 'reported')),
    counters(p),
    h('div.dash-cols', null,
      h('div.dash-main', null,
        checksPanel(id),
        h('section.panel.needs-panel', null, h('h2', null, ct('needs')), needsList(replica, inc)),
        h('section.panel', null, h('h2', null, ct('board')), legend(), board(replica, inc))),
      h('div.dash-side', null,
        statusControls(inc),
        updateForm(inc),
        h('section.panel', null, h('h2', null, ct('chart')), progressChart(series(replica, inc))),
        h('section.panel', null, updatesList(replica, inc)),
        shareBox(inc))));
}
