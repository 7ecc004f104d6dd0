// Buildings of the incident: restoration building by building ("已恢复 3 / 11 栋"), asked
// first and undoable, then the board of every household. When the last building is
// restored the incident's status becomes restored in the same write. Each building is an
// element of the set field `restored_buildings`, written alone as `restored_buildings.<id>`.
import { h } from '../shared/dom.js';
import { ctx } from '../shared/context.js';
import { ct } from './strings.js';
import { board, legend } from './board.js';
import { incidentScope, indexes, restoredBuildings } from './model.js';
import { carefully } from './status-controls.js';
import { residentCard } from './confirm-dialog.js';

function toggle(inc, building, scopeIds) {
  const done = restoredBuildings(inc);
  const was = done.has(building.id);
  const next = was ? [...done].filter((b) => b !== building.id) : [...done, building.id];
  // One element of the set (sync/sets.js): two coordinators restoring different buildings
  // offline both count, and an unrestore takes back only its own building.
  const fields = { [`restored_buildings.${building.id}`]: !was };
  const all = !was && next.length === scopeIds.length;
  if (all) Object.assign(fields, { status: 'restored', restored_at: new Date(ctx.store.now()).toISOString() });
  const name = building.label || building.id;
  return carefully(inc, fields, {
    title: ct(was ? 'confirmUnrestore' : 'confirmRestore', { b: name }),
    preview: residentCard([ct('buildingsRestored', { n: next.length, m: scopeIds.length })]),
    note: all ? ct('allRestoredNote') : '',
    done: ct(was ? 'buildingUnrestored' : 'buildingRestored', { b: name }),
  });
}

export function restorationList(replica, inc) {
  const idx = indexes(replica);
  const scope = incidentScope(replica, inc, idx);
  const ids = scope.map(({ building }) => building.id);
  const done = restoredBuildings(inc);
  return h('section.panel.restoration', null,
    h('h2', null, ct('buildingsRestored', { n: done.size, m: ids.length })),
    h('ul.b-list', null, scope.map(({ building, units }) => {
      const on = done.has(building.id);
      const n = units.reduce((s, u) => s + u.households.length, 0);
      return h(`li.b-row${on ? '.on' : ''}`, { dataset: { building: building.id } },
        h('span.b-name', null, building.label || building.id, h('span.muted', null, ` · ${n} ${ct('households')}`)),
        on ? h('span.badge.pub', null, ct('restored')) : null,
        h(`button.small-btn${on ? '' : '.go'}`, {
          type: 'button', 'aria-label': `${building.label || ''} ${ct(on ? 'unrestoreBuilding' : 'restoreBuilding')}`,
          onclick: () => toggle(inc, building, ids),
        }, ct(on ? 'unrestoreBuilding' : 'restoreBuilding')));
    })));
}

export function buildingsPanel(replica, inc) {
  return h('div.buildings', null,
    restorationList(replica, inc),
    h('section.panel', null, h('h2', null, ct('board')), legend(), board(replica, inc)));
}
