// Devices and export page for coordinators: list phones and browser sessions, revoke one
// (its next sync makes it wipe personal data), download an incident as XLSX or CSV.
import { call, currentSession } from './session.js';

const tbody = document.querySelector('#devices tbody');
const msg = document.getElementById('msg');

function cell(text) {
  const td = document.createElement('td');
  td.textContent = text ?? '';
  return td;
}

async function revoke(d, button) {
  if (!confirm(`停用 ${d.name || d.person} 的设备 ${d.label || d.node}？ Revoke this device?`)) return;
  button.disabled = true;
  try {
    await call('POST', `/api/v1/devices/${encodeURIComponent(d.node)}/revoke`);
    msg.textContent = `已停用 Revoked ${d.node}`;
    await render();
  } catch (err) {
    button.disabled = false;
    msg.textContent = `停用失败 Failed: ${err.message}`;
  }
}

async function render() {
  const rows = await call('GET', '/api/v1/devices');
  tbody.replaceChildren(...rows.map((d) => {
    const tr = document.createElement('tr');
    tr.dataset.node = d.node;
    tr.append(cell(d.name || d.person), cell(d.role), cell(d.label || d.node), cell(d.revoked_at ? `已停用 ${d.revoked_at}` : d.last_seen));
    const td = document.createElement('td');
    if (!d.revoked_at) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'revoke';
      b.textContent = '停用 Revoke';
      b.addEventListener('click', () => revoke(d, b));
      td.append(b);
    }
    tr.append(td);
    return tr;
  }));
}

document.getElementById('export').addEventListener('submit', (e) => {
  e.preventDefault();
  const incident = new FormData(e.target).get('incident');
  const format = e.submitter?.value || 'xlsx';
  location.assign(`/api/v1/incidents/${encodeURIComponent(incident)}/export?format=${format}`);
});

document.getElementById('logout').addEventListener('click', async () => {
  try { await call('POST', '/api/v1/logout'); } finally { location.assign('/login.html?next=/devices.html'); }
});

async function main() {
  const s = await currentSession();
  if (!s || s.role !== 'coordinator') { location.assign('/login.html?next=/devices.html'); return; }
  document.getElementById('who').textContent = `${s.name || s.person} · 会话至 session until ${s.expires_at || '—'}`;
  const inc = new URLSearchParams(location.search).get('incident');
  if (inc) document.querySelector('#export input[name=incident]').value = inc;
  await render();
}

main().catch((err) => { msg.textContent = `出错了 Error: ${err.message}`; });
