// 人员 (#/people): invite volunteers one at a time or in a batch and print their QR codes;
// see each person's newest invite (waiting, used, expired, withdrawn), withdraw it or
// invite again; add a community's coordinator. Phones and sessions are on devices.html.
import { h } from '../shared/dom.js';
import { ctx } from '../shared/context.js';
import { handleError, toast } from '../shared/toast.js';
import { ct } from './strings.js';
import { getJson, post } from './http.js';
import { localTime } from './time.js';
import { inviteSheet } from './invite-sheet.js';
import { inviteForm, coordinatorForm, inviteError } from './invite-forms.js';

const state = { rows: null, loadedAt: 0, sheet: null };

function load() {
  state.loadedAt = Date.now();
  // Not forced: the answer often lands while names are being typed into the box, and a
  // forced redraw replaced the box under the typing (its text lost mid-fill). The list
  // shows on the next redraw, at the latest when the field is left.
  getJson('/api/v1/invites').then((rows) => { state.rows = rows; ctx.redraw?.(); }, (err) => handleError(err, 'invites'));
}

function showSheet(invites) {
  state.sheet = invites;
  load();
  ctx.redraw?.(true);
  requestAnimationFrame(() => document.querySelector('.invite-print')?.scrollIntoView());
}

function stateText(r) {
  if (!r.invite) return ct('inviteNone');
  if (r.invite === 'pending') return ct('invitePending', { at: localTime(r.expires_at) });
  return ct(`invite_${r.invite}`);
}

function actions(r) {
  const out = [];
  if (r.invite === 'pending') {
    // A coordinator who signs in needs no link; one whose setup link was not used gets a new one.
  if (r.role === 'coordinator' && (!r.invite || r.invite === 'used')) return out;
  out.push(h('button.small-btn', {
      type: 'button', 'aria-label': ct('withdrawFor', { who: r.name }),
      onclick: () => post(`/api/v1/people/${encodeURIComponent(r.person)}/invites/revoke`).then(
        () => { toast(ct('withdrawn', { who: r.name }), { kind: 'ok' }); load(); },
        (err) => inviteError(err, 'withdraw invite')),
    }, ct('withdraw')));
  }
  // A coordinator who signs in needs no link; one whose setup link was not used gets a new one.
  if (r.role === 'coordinator' && (!r.invite || r.invite === 'used')) return out;
  out.push(h('button.small-btn', {
    type: 'button', 'aria-label': ct('reinviteFor', { who: r.name }),
    onclick: () => post(`/api/v1/people/${encodeURIComponent(r.person)}/invite`).then(
      (inv) => showSheet([inv]), (err) => inviteError(err, 're-invite')),
  }, ct('reinvite')));
  return out;
}

function peopleTable() {
  if (!state.rows) return h('p.loading', null, ct('loading'));
  if (!state.rows.length) return h('p.muted', null, ct('noPeopleYet'));
  const cols = ['personCol', 'roleCol', 'devicesCol', 'inviteCol', 'actionCol'];
  return h('div.table-wrap', null, h('table.roster-table.people-table', null,
    h('thead', null, h('tr', null, cols.map((k) => h('th', { scope: 'col' }, ct(k))))),
    h('tbody', null, state.rows.map((r) => h('tr', { dataset: { person: r.person } },
      h('td', { dataset: { label: ct('personCol') } }, r.name || ct('unknownPerson')),
      h('td', { dataset: { label: ct('roleCol') } }, ct(r.role === 'coordinator' ? 'roleCoordinator' : 'roleVolunteer')),
      h('td', { dataset: { label: ct('devicesCol') } }, String(r.devices)),
      h('td.invite-state', { dataset: { label: ct('inviteCol') } }, stateText(r)),
      h('td', { dataset: { label: ct('actionCol') } }, actions(r)))))));
}

export function peopleView() {
  if (!state.rows || Date.now() - state.loadedAt > 30_000) load();
  return h('section.people-page', null,
    h('div.titlebar', null, h('a.back', { href: '#/', 'aria-label': ct('back') }, '‹'), h('h1', null, ct('peopleTitle'))),
    state.sheet ? inviteSheet(state.sheet, () => { state.sheet = null; ctx.redraw?.(true); }) : null,
    inviteForm(showSheet),
    h('section.panel', null, h('h2', null, ct('peopleList')), peopleTable(),
      h('p', null, h('a', { href: '/devices.html' }, ct('devicesAndExport')))),
    coordinatorForm(showSheet));
}
