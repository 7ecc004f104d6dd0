// The coordinator's levers on an incident: status, expected time, updates, residents' link.
import { h, shortTime } from '../shared/dom.js';
import { label } from '../shared/i18n.js';
import { handleError, toast } from '../shared/toast.js';
import { ct } from './strings.js';
import { setStatus, setEta, postUpdate } from './actions.js';
import { post } from './http.js';

const STATUSES = ['reported', 'responding', 'repairing', 'restored', 'closed'];
const shares = new Map(); // incident id → {url, token}

function localInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

export function statusControls(inc) {
  const eta = h('input.eta-input', { type: 'datetime-local', name: 'eta', value: localInput(inc.eta), 'aria-label': ct('eta') });
  return h('section.panel.controls', null,
    h('h2', null, ct('status')),
    h('div.status-steps', { role: 'group' }, STATUSES.map((s) => h(`button.step${inc.status === s ? '.on' : ''}`, {
      type: 'button', dataset: { status: s }, 'aria-pressed': String(inc.status === s),
      onclick: () => setStatus(inc.id, s).catch((e) => handleError(e, 'status')),
    }, label('istatus', s)))),
    h('form.eta-form', {
      onsubmit: (e) => {
        e.preventDefault();
        if (!eta.value) return;
        setEta(inc.id, new Date(eta.value).toISOString()).then(() => toast(ct('posted'), { kind: 'ok' }), (err) => handleError(err, 'eta'));
      },
    }, h('label', null, ct('eta'), eta), h('button.small-btn', { type: 'submit' }, ct('setEta'))));
}

export function updateForm(inc) {
  const text = h('textarea.update-text', { name: 'text', rows: 3, maxlength: 4000, 'aria-label': ct('updateText'), placeholder: ct('updateText') });
  const pub = h('input', { type: 'checkbox', name: 'public', checked: true });
  const form = h('form.panel.update-form', {
    onsubmit: (e) => {
      e.preventDefault();
      const value = text.value.trim();
      if (!value) return;
      postUpdate(inc.id, value, pub.checked).then(() => { text.value = ''; toast(ct('posted'), { kind: 'ok' }); },
        (err) => handleError(err, 'update'));
    },
  }, h('h2', null, ct('postUpdate')), text, h('label.check', null, pub, ct('public')),
  h('button.big.primary', { type: 'submit' }, ct('post')));
  form.dataset.static = '1';
  return form;
}

export function updatesList(replica, inc) {
  const list = replica.all('updates').filter((u) => u.incident === inc.id)
    .sort((a, b) => String(b.at).localeCompare(String(a.at)));
  return h('ol.updates', null, list.map((u) => h('li', null,
    h('span.muted', null, shortTime(u.at), ' '),
    h(`span.badge${u.public ? '.pub' : ''}`, null, u.public ? ct('publicTag') : ct('internal')),
    h('p', null, u.text))));
}

export function shareBox(inc) {
  const box = h('section.panel.share');
  const draw = () => {
    const s = shares.get(inc.id);
    box.replaceChildren(h('h2', null, ct('share')));
    if (!s) {
      box.append(h('button.big', { type: 'button', onclick: make }, ct('makeLink')));
      return;
    }
    box.append(h('p.share-url', null, h('a', { href: s.url, target: '_blank', rel: 'noopener' }, s.url)),
      h('img.qr', { src: `/r/${encodeURIComponent(s.token)}/qr.svg`, alt: 'QR', width: 180, height: 180 }),
      h('button.small-btn', {
        type: 'button',
        onclick: () => navigator.clipboard.writeText(s.url).then(() => toast(ct('copied'), { kind: 'ok' }), (e) => handleError(e, 'copy')),
      }, ct('copyLink')));
  };
  async function make() {
    try {
      const d = await post(`/api/v1/incidents/${encodeURIComponent(inc.id)}/share`);
      shares.set(inc.id, d);
      draw();
    } catch (err) { handleError(err, 'share'); }
  }
  draw();
  return box;
}
