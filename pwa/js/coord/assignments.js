// Who works where: the coordinator picks a volunteer and ticks buildings of the incident
// (or the whole incident). Each tick is an `assignments` record written through the outbox
// and the sync loop like every other dashboard edit; unticking sets active=false, and the
// volunteer's phone deletes that building's personal data at its next sync.
import { h } from '../shared/dom.js';
import { ctx } from '../shared/context.js';
import { go } from '../shared/router.js';
import { handleError, toast } from '../shared/toast.js';
import { titleBar, screen } from '../volunteer/screen.js';
import { ct } from './strings.js';
import { getJson } from './http.js';
import { setAssignment } from './actions.js';
import { indexes, byText } from './model.js';

let people = null; // [{id, name, role, devices}] from GET /api/v1/people
let loading = null;
let loadedAt = 0;
const FRESH_MS = 30_000; // volunteers enrolled meanwhile show up when the screen is reopened

function loadPeople() {
  if (loading) return;
  loading = getJson('/api/v1/people').then(
    (list) => { people = list; loading = null; loadedAt = Date.now(); ctx.redraw?.(); },
    (err) => { loading = null; loadedAt = Date.now(); people = people || []; handleError(err, 'people'); ctx.redraw?.(); });
}

function tick(person, kind, target) {
  return (e) => {
    const on = e.target.checked;
    setAssignment(person, kind, target, on)
      .then(() => toast(ct(on ? 'assigned' : 'unassigned'), { kind: 'ok' }), (err) => handleError(err, 'assign'));
  };
}

function row(replica, person, kind, target, text, extra) {
  const rec = replica.get('assignments', `${person}~${target}`);
  return h('label.scope-row.assign-row', { dataset: { target, kind } },
    h('input', { type: 'checkbox', name: 'target', value: target, checked: rec?.active === true, onchange: tick(person, kind, target) }),
    h('span', null, text), extra ? h('span.muted', null, ` ${extra}`) : null);
}

export function assignmentsView(incidentId, personId) {
  const { replica } = ctx.store;
  const inc = replica.get('incidents', incidentId);
  const back = `/i/${incidentId}`;
  if (!inc) return screen(titleBar('—', { back: '/' }), h('p.empty', null, ct('noIncidents')));
  if (!people || Date.now() - loadedAt > FRESH_MS) loadPeople();
  const volunteers = (people || []).filter((p) => p.role === 'volunteer')
    .sort((a, b) => byText(a.name, b.name) || byText(a.id, b.id));
  const pick = h('select.volunteer-pick', {
    name: 'person', 'aria-label': ct('volunteer'),
    onchange: (e) => go(e.target.value ? `${back}/assign/${encodeURIComponent(e.target.value)}` : `${back}/assign`),
  }, h('option', { value: '' }, people ? ct('chooseVolunteer') : ct('loading')),
  volunteers.map((p) => h('option', { value: p.id }, `${p.name || p.id} · ${ct('devicesN', { n: p.devices })}`)));
  pick.value = volunteers.some((p) => p.id === personId) ? personId : '';
  const parts = [h('label.assign-pick', null, ct('volunteer'), pick)];
  if (people && !volunteers.length) parts.push(h('p.empty', null, h('a', { href: '#/people' }, ct('noVolunteers'))));
  if (pick.value) {
    const idx = indexes(replica);
    const buildings = (Array.isArray(inc.buildings) ? inc.buildings : [])
      .map((id) => replica.get('buildings', id) || { id })
      .sort((a, b) => byText(a.label, b.label));
    parts.push(h('fieldset.scope.assign-targets', null,
      h('legend', null, ct('assignBuildings')),
      row(replica, personId, 'incident', incidentId, ct('wholeIncident'), inc.title || ''),
      buildings.map((b) => row(replica, personId, 'building', b.id, b.label || b.id,
        `${(idx.households.get(b.id) || []).length} ${ct('households')}`))),
    h('p.muted', null, ct('assignHint')));
  }
  return screen(titleBar(ct('assignTitle'), { back }), h('div.panel.assign-form', null, parts));
}
