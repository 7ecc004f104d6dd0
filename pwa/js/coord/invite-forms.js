// The people page's two forms: invite volunteers (one a line: name and phone) and, for a
// coordinator of every community, add a community's coordinator (a setup link).
import { h } from '../shared/dom.js';
import { ctx } from '../shared/context.js';
import { handleError, toast } from '../shared/toast.js';
import { ct } from './strings.js';
import { post } from './http.js';
import { byText } from './model.js';

/**
 * "张三 138 0000 0001", "李四，13900000002", "王五": one person a line; the phone is the
 * trailing run of digits, spaces and dashes (it may be missing). Blank lines are skipped.
 */
export function parseLines(text) {
  const out = [];
  for (const raw of String(text).split(/\r?\n/)) {
    const line = raw.replace(/[\u3000\t]/g, ' ').trim();
    if (!line) continue;
    const m = line.match(/^(.*?)[\s,，、;；]*((?:\+?\d[\d\s-]{5,}\d))?$/);
    const name = (m?.[1] || line).replace(/[\s,，、;；]+$/, '').trim().slice(0, 50);
    out.push({ name: name || line.slice(0, 50), phone: (m?.[2] || '').trim().slice(0, 30) });
  }
  return out;
}

/** The server's error code worded on this page when it has words for it, else handleError. */
export function inviteError(err, what) {
  const key = `inviteError.${err?.code}`;
  if (err?.code && ct(key) !== key) { console.warn(`[doorstep] ${what}`, err); toast(ct(key), { kind: 'error', ms: 6000 }); }
  else handleError(err, what);
}

const draft = { lines: '', ttl: '72' };

export function inviteForm(onSheet) {
  const box = h('textarea', {
    id: 'invite-lines', rows: 5, placeholder: ct('inviteLinesHint'),
    oninput: (e) => { draft.lines = e.target.value; },
  });
  box.value = draft.lines; // a textarea's value attribute is not its text: a redraw kept none
  const ttl = h('select', { id: 'invite-ttl', onchange: (e) => { draft.ttl = e.target.value; } },
    [['24', 'ttl24'], ['72', 'ttl72'], ['168', 'ttl168']].map(([v, k]) => h('option', { value: v, selected: v === draft.ttl }, ct(k))));
  const submit = async (e) => {
    e.preventDefault();
    const people = parseLines(box.value);
    if (!people.length) { box.focus(); return; }
    try {
      const sheet = await post('/api/v1/invites', { people, ttl_hours: Number(ttl.value) });
      draft.lines = '';
      onSheet(sheet.invites);
    } catch (err) { inviteError(err, 'invite'); }
  };
  return h('form.panel.invite-form', { onsubmit: submit },
    h('h2', null, ct('inviteVolunteers')),
    h('label', { for: 'invite-lines' }, ct('inviteLines')), box,
    h('label', { for: 'invite-ttl' }, ct('inviteTtl')), ttl,
    h('button.big.primary', { type: 'submit' }, ct('makeInvites')));
}

/** Only a coordinator of every community may add one; the server says so to the others. */
export function coordinatorForm(onSheet) {
  const communities = (ctx.store?.replica.all('communities') || []).filter((c) => !c._deleted)
    .sort((a, b) => byText(a.name, b.name));
  if (!communities.length) return null;
  const name = h('input', { id: 'coord-name', required: true, maxLength: 50 });
  const community = h('select', { id: 'coord-community', required: true },
    communities.map((c) => h('option', { value: c.id }, [c.street, c.name].filter(Boolean).join(' · ') || ct('unnamedCommunity'))));
  const submit = async (e) => {
    e.preventDefault();
    try {
      const inv = await post('/api/v1/coordinators', { name: name.value.trim(), community: community.value });
      onSheet([inv]);
    } catch (err) { inviteError(err, 'add coordinator'); }
  };
  return h('form.panel.invite-form', { onsubmit: submit },
    h('h2', null, ct('addCoordinator')),
    h('p.muted', null, ct('addCoordinatorHint')),
    h('label', { for: 'coord-name' }, ct('coordName')), name,
    h('label', { for: 'coord-community' }, ct('community')), community,
    h('button.big', { type: 'submit' }, ct('makeSetupLink')));
}
