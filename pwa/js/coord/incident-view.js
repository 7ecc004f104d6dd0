// One incident on the coordinator's screen: a head (what, where, who reported it, live
// counters) and sections behind tabs, so a phone never scrolls through everything at once.
// On a laptop the tabs stand in a column on the left.
import { h } from '../shared/dom.js';
import { label } from '../shared/i18n.js';
import { ctx } from '../shared/context.js';
import { titleBar, screen } from '../volunteer/screen.js';
import { ct } from './strings.js';
import { localTime } from './time.js';
import { overview } from './overview.js';
import { needsQueue } from './needs-queue.js';
import { vulnerableList } from './vulnerable-list.js';
import { buildingsPanel } from './buildings-panel.js';
import { roster } from './roster.js';
import { briefPanel } from './brief.js';
import { reportDetails } from './report-details.js';
import { checksPanel } from './checks-panel.js';

const COUNTERS = [
  ['affected', 'affected'], ['visited', 'visited'], ['reached', 'reached'],
  ['vulnerable', 'vulnerable'], ['vulnerable_reached', 'vulnReached'],
  ['needs_open', 'needsOpen'], ['heaters_out', 'heatersOut'], ['restored', 'restored'],
];

export const TABS = [
  ['', 'tabOverview', overview], ['needs', 'tabNeeds', needsQueue], ['vulnerable', 'tabVulnerable', vulnerableList],
  ['buildings', 'tabBuildings', buildingsPanel], ['roster', 'tabRoster', roster], ['brief', 'tabBrief', briefPanel],
];

export function counters(p) {
  return h('div.counters', { dataset: { seq: p ? String(p.seq) : '' } }, COUNTERS.map(([key, word]) =>
    h('div.counter', { dataset: { key } },
      h('span.c-value', null, p ? String(p[key]) : '…'),
      h('span.c-label', null, ct(word)))));
}

function tabs(id, active) {
  return h('nav.tabs.no-print', { 'aria-label': ct('sections') }, TABS.map(([key, word]) =>
    h('a.tab', {
      href: `#/i/${encodeURIComponent(id)}${key ? `/${key}` : ''}`,
      'aria-current': key === active ? 'page' : null, dataset: { tab: key || 'overview' },
    }, ct(word))));
}

function headLine(inc, p) {
  return h('p.progress-line.head-line', null, label('kind', inc.kind || 'other'), ' · ', label('istatus', inc.status || 'reported'),
    inc.started_at ? ` · ${localTime(inc.started_at)}` : '',
    p && p.buildings ? ` · ${ct('buildingsRestored', { n: p.buildings_restored, m: p.buildings })}` : '');
}

/**
 * New progress counters for the incident on screen, patched in place: a progress event
 * (several a minute in an outage) must not rebuild the whole screen. False if none is shown.
 */
export function patchProgress(root) {
  const dash = root.querySelector('section.dash[data-incident]');
  const inc = dash && ctx.store.replica.get('incidents', dash.dataset.incident);
  if (!inc) return false;
  const p = ctx.progress.get(inc.id);
  dash.querySelector('.counters')?.replaceWith(counters(p));
  dash.querySelector('.head-line')?.replaceWith(headLine(inc, p));
  return true;
}

/**
 * The first full screen after a head-only one (first load, first-load.js): its sections
 * move into the head already on screen, so only they are laid out — the head, the
 * largest text of the screen, is neither rebuilt nor laid out again. False if the screen
 * is not such a head.
 */
export function completeHead(root, fresh) {
  const head = root.querySelector('section.dash[data-partial="1"]');
  if (!head || !fresh?.matches?.('section.dash:not([data-partial])') || fresh.dataset.incident !== head.dataset.incident) return false;
  // The overview's panels (status, update form, residents' link, chart, updates) join one
  // a frame, in page order, so no frame lays out all of them at once; the 需核实 panel last.
  const pieces = [...fresh.querySelectorAll('.dash-section .ov-col > *')].map((el) => [el.parentElement, el]);
  for (const [, el] of pieces) el.remove();
  const checks = fresh.querySelector('.checks-panel');
  if (checks) {
    checks.remove();
    pieces.push([head, checks]);
  }
  head.querySelector('.dash-body').replaceWith(fresh.querySelector('.dash-body'));
  delete head.dataset.partial;
  const next = () => {
    const piece = pieces.shift();
    if (!piece || !head.isConnected) return; // done, or a newer screen took over
    piece[0].append(piece[1]);
    if (pieces.length) requestAnimationFrame(() => setTimeout(next, 0));
  };
  next();
  return true;
}

export function incidentView(id, tab = '') {
  const { replica } = ctx.store;
  const inc = replica.get('incidents', id);
  if (!inc) return screen(titleBar('—', { back: '/' }), h('p.empty', null, ct('noIncidents')));
  const p = ctx.progress.get(id);
  if (!p) ctx.fetchProgress?.(id);
  const section = (TABS.find(([key]) => key === tab) || TABS[0])[2];
  // First load, incidents merged but not the rest yet (first-load.js): the head only.
  const partial = Boolean(ctx.loading);
  const data = { incident: id, tab: tab || 'overview', ...(partial ? { partial: '1' } : {}) };
  return h('section.screen.dash', { dataset: data },
    titleBar(inc.title || label('kind', inc.kind || 'other'), {
      back: '/', actions: [h('a.small-btn.assign-link.no-print', { href: `#/i/${encodeURIComponent(id)}/assign` }, ct('assign'))],
    }),
    headLine(inc, p),
    reportDetails(inc),
    counters(p),
    h('div.dash-body', null, tabs(id, tab), h('div.dash-section', { dataset: { tab: tab || 'overview' } },
      partial ? h('p.loading', { role: 'status' }, ct('loading')) : section(replica, inc))),
    // Last: it fills itself from the server, and must not push the screen down when it does.
    partial ? null : checksPanel(id));
}
