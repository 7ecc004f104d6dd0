// Devices and export page for coordinators: list phones and browser sessions, revoke one
// (its next sync makes it wipe personal data), download an incident — chosen by name from
// the list the server gives (GET /api/v1/incidents; this browser needs no replica) — as
// XLSX or CSV. A device shows as what it is ("安卓手机 · Chrome", from the kind, system
// and browser the server reads from its label), never as a raw user-agent string.
import { call, currentSession } from './session.js';
import { at, wordPage, local } from './words.js';

const tbody = document.querySelector('#devices tbody');
const msg = document.getElementById('msg');
let rows = [];
let me = null;

function cell(text, key) {
  const td = document.createElement('td');
  td.textContent = text ?? '';
  td.dataset.label = at(key);
  return td;
}

/** "安卓手机 · Chrome", "Windows 电脑 · Edge", "手机": words for a device, in the page's language. */
export function deviceName(d) {
  const what = d.system ? at(`dev.${d.system}`) : at(`dev.${d.kind || (d.role === 'coordinator' ? 'browser' : 'phone')}`);
  const browser = d.browser ? (at(`br.${d.browser}`) === `br.${d.browser}` ? d.browser : at(`br.${d.browser}`)) : '';
  return browser ? `${what} · ${browser}` : what;
}

async function revoke(d, button) {
  const who = d.name || at('person');
  if (!confirm(at('revokeQ', { who, dev: deviceName(d) }))) return;
  button.disabled = true;
  try {
    await call('POST', `/api/v1/devices/${encodeURIComponent(d.node)}/revoke`);
    msg.textContent = at('revokedMsg', { who });
    await load();
  } catch (err) {
    button.disabled = false;
    msg.textContent = at('revokeFailed', { msg: err.message });
  }
}

function draw() {
  if (me) document.getElementById('who').textContent = at('sessionUntil', { who: me.name || '', at: local(me.expires_at, '—') });
  tbody.replaceChildren(...rows.map((d) => {
    const tr = document.createElement('tr');
    tr.dataset.node = d.node;
    tr.append(cell(d.name || '—', 'person'), cell(at(`role.${d.role}`), 'role'),
      cell(deviceName(d), 'device'),
      cell(d.revoked_at ? at('revokedAt', { at: local(d.revoked_at) }) : local(d.last_seen, at('never')), 'lastSeen'),
      cell(typeof d.pending === 'number' ? String(d.pending) : '—', 'pending'));
    const td = cell('', 'action');
    if (!d.revoked_at) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'revoke small-btn';
      b.textContent = at('revoke');
      b.setAttribute('aria-label', `${at('revoke')} ${d.name || ''} ${deviceName(d)}`.trim());
      b.addEventListener('click', () => revoke(d, b));
      td.append(b);
    }
    tr.append(td);
    return tr;
  }));
}

async function load() {
  rows = await call('GET', '/api/v1/devices');
  draw();
}

async function incidents() {
  const select = document.getElementById('export-incident');
  const list = await call('GET', '/api/v1/incidents'); // newest first
  select.replaceChildren(...list.map((i) => {
    const o = document.createElement('option');
    o.value = i.id;
    o.textContent = `${i.title || i.place || '—'}${i.started_at ? ` · ${local(i.started_at)}` : ''}`;
    return o;
  }));
  const wanted = new URLSearchParams(location.search).get('incident');
  if (wanted && list.some((i) => i.id === wanted)) select.value = wanted;
  document.getElementById('no-incidents').hidden = list.length > 0;
}

document.getElementById('export').addEventListener('submit', (e) => {
  e.preventDefault();
  const incident = new FormData(e.target).get('incident');
  if (!incident) return;
  const format = e.submitter?.value || 'xlsx';
  location.assign(`/api/v1/incidents/${encodeURIComponent(incident)}/export?format=${format}`);
});

document.getElementById('logout').addEventListener('click', async () => {
  try { await call('POST', '/api/v1/logout'); } finally { location.assign('/login.html?next=/devices.html'); }
});

async function main() {
  wordPage('pageDevices', draw);
  me = await currentSession();
  if (!me || me.role !== 'coordinator') { location.assign('/login.html?next=/devices.html'); return; }
  await Promise.all([load(), incidents()]);
}

main().catch((err) => { msg.textContent = at('error', { msg: err.message }); });
