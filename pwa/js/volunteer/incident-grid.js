// An incident's buildings → units → households as a grid of tiles coloured by status.
// Built for speed on cheap phones: plain buttons, one delegated click listener.
import { h } from '../shared/dom.js';
import { t, label } from '../shared/i18n.js';
import { ctx } from '../shared/context.js';
import { go } from '../shared/router.js';
import { incidentScope, householdView, indexes, progress, myBuildings } from './model.js';
import { screen, titleBar } from './screen.js';

// Each its own colour (app.css --s-*): 已搬走 is not 已联系 (#22 D5).
export const STATES = ['none', 'not_home', 'refused', 'moved', 'reached', 'help', 'heater'];
// incident id → building id or 'all'; kept across reloads (a phone reloads in a stairwell).
const KEY = 'doorstep.building';
const chosen = {
  get: (incident) => { try { return JSON.parse(localStorage.getItem(KEY) || '{}')[incident]; } catch { return undefined; } },
  set: (incident, building) => {
    try {
      const all = JSON.parse(localStorage.getItem(KEY) || '{}');
      all[incident] = building;
      localStorage.setItem(KEY, JSON.stringify(all));
    } catch { /* storage full or blocked: the choice lasts until reload */ }
  },
};

/** The tiles of one building. Exported for the render benchmark. */
export function buildingBlock(replica, incidentId, { building, units }, idx) {
  return h('section.building', { dataset: { building: building.id } },
    h('h3.building-label', null, building.label || building.id),
    units.map(({ unit, households }) => h('div.unit', null,
      h('div.unit-label', null, unit ? t('grid.unit', { n: unit }) : ''),
      h('div.tiles', null, households.map((hh) => {
        const v = householdView(replica, incidentId, hh.id, idx);
        const vuln = Array.isArray(hh.vulnerable) && hh.vulnerable.length > 0;
        return h(`button.tile.t-${v.state}${vuln ? '.vuln' : ''}`, {
          type: 'button', dataset: { h: hh.id }, title: label('hstate', v.state),
        }, hh.room || '?');
      })))));
}

/** The whole grid for the given scope (all buildings or one). */
export function gridOf(replica, incidentId, scope) {
  const idx = indexes(replica);
  const grid = h('div.grid', {
    onclick: (e) => {
      const tile = e.target.closest('.tile');
      if (tile) go(`/i/${incidentId}/h/${tile.dataset.h}`);
    },
  }, scope.map((b) => buildingBlock(replica, incidentId, b, idx)));
  return grid;
}

/** The tile colours and the white dot of a vulnerable household (#22 D22). */
export function legend() {
  return h('div.legend', { role: 'group', 'aria-label': t('grid.legend') },
    STATES.map((s) => h('span.legend-item', null, h(`i.swatch.t-${s}`), label('hstate', s))),
    h('span.legend-item', null, h('i.swatch.sw-vuln'), t('grid.legendVuln')));
}

/**
 * The buildings of the incident this phone works in: a volunteer sees only those the
 * server scopes to them (#22 D13: the others opened empty), a coordinator all of them.
 */
function workScope(replica, inc) {
  const scope = incidentScope(replica, inc);
  const auth = ctx.store.meta.auth;
  if (auth?.role === 'coordinator') return scope;
  const mine = myBuildings(replica, auth?.person);
  return scope.filter((b) => mine.has(b.building.id));
}

export function incidentGridView(incidentId) {
  const { replica } = ctx.store;
  const inc = replica.get('incidents', incidentId);
  if (!inc) return screen(titleBar('—', { back: '/' }), h('p.empty', null, t('incidents.empty')));
  const scope = workScope(replica, inc);
  const saved = chosen.get(incidentId);
  const known = saved === 'all' || scope.some((b) => b.building.id === saved);
  const pick = known ? saved : (scope.length > 1 ? scope[0].building.id : 'all');
  const shown = pick === 'all' ? scope : scope.filter((b) => b.building.id === pick);
  const p = progress(replica, inc);
  const chip = (id, text) => h(`button.chip${id === pick ? '.on' : ''}`, {
    type: 'button', onclick: () => { chosen.set(incidentId, id); ctx.redraw?.(); },
  }, text);
  return screen(
    titleBar(inc.title || label('kind', inc.kind || 'other'), {
      back: '/',
      actions: [h('a.small-btn', { href: `#/i/${incidentId}/repairs` }, t('grid.repairs'))],
    }),
    h('p.progress-line', null, label('istatus', inc.status || 'reported'), ' · ',
      t('incidents.affected', { n: p.affected }), ' · ',
      t('incidents.progress', { v: p.visited, r: p.reached, x: p.refused, n: p.help, h: p.heaters }),
      p.vulnerable ? [' · ', t('incidents.vulnerable', { r: p.vulnerableReached, n: p.vulnerable })] : null),
    legend(),
    scope.length > 1 ? h('div.chips.buildings', null, chip('all', t('grid.all')), scope.map((b) => chip(b.building.id, b.building.label || b.building.id))) : null,
    shown.length ? gridOf(replica, incidentId, shown) : h('p.empty', null, t(scope.length ? 'grid.noHouseholds' : 'grid.notAssigned')));
}
