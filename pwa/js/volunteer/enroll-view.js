// Enrolment: from the invite link "#/enroll/<code>" (enrols at once) or a typed code.
import { h } from '../shared/dom.js';
import { t } from '../shared/i18n.js';
import { enroll, ApiError, NetworkError } from '../shared/api.js';
import { ctx } from '../shared/context.js';
import { toast, handleError } from '../shared/toast.js';
import { measureOffset } from '../sync/outbox.js';
import { screen, titleBar } from './screen.js';

function deviceLabel() {
  const ua = navigator.userAgent;
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Windows/.test(ua) ? 'Windows' : /Mac/.test(ua) ? 'Mac' : 'Linux';
  const br = /MicroMessenger/.test(ua) ? 'WeChat' : /Edg\//.test(ua) ? 'Edge' : /Chrome\//.test(ua) ? 'Chrome' : /Firefox\//.test(ua) ? 'Firefox' : /Safari\//.test(ua) ? 'Safari' : 'Browser';
  return `${os} ${br}`;
}

async function submit(code, msg, button) {
  code = code.trim().toUpperCase();
  if (!code) return;
  button.disabled = true;
  msg.className = 'enroll-msg';
  msg.textContent = t('enroll.working');
  try {
    const sentAt = Date.now();
    const auth = await enroll(code, deviceLabel());
    // A first estimate of the clock offset from the Date header (second precision);
    // every sync answer's server_time refines it.
    if (auth.serverDate) {
      const off = measureOffset(new Date(auth.serverDate).toISOString(), sentAt, Date.now());
      if (off !== null && Math.abs(off) > 2000) await ctx.store.setOffset(off);
    }
    await ctx.store.setAuth({ token: auth.token, node: auth.node, role: auth.role, person: auth.person, name: auth.name || '', at: new Date().toISOString() });
    toast(t('enroll.done'), { kind: 'ok' });
    ctx.onEnrolled?.();
  } catch (err) {
    button.disabled = false;
    msg.className = 'enroll-msg error-box';
    if (err instanceof NetworkError) msg.textContent = t('enroll.offline');
    // invite_used, invite_expired, invite_unknown… in the page's language.
    else if (err instanceof ApiError && err.status < 500) msg.textContent = err.message || t('enroll.bad');
    else { msg.textContent = t('enroll.failed'); handleError(err, 'enroll'); }
  }
}

export function enrollView(codeFromLink) {
  const msg = h('p.enroll-msg');
  const input = h('input.code-input', {
    name: 'code', autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false',
    placeholder: 'K7Q2-MX4P', value: codeFromLink || '', 'aria-label': t('enroll.code'),
  });
  const button = h('button.big.primary', { type: 'submit' }, t('enroll.submit'));
  const form = h('form.enroll', { onsubmit: (e) => { e.preventDefault(); submit(input.value, msg, button); } },
    h('label', null, t('enroll.code'), input), button, msg);
  const el = screen(titleBar(t('enroll.title')), h('p.lead', null, t('enroll.intro')), form,
    h('p.muted', null,
      ctx.store.meta.auth ? h('a', { href: '#/' }, `${t('nav.incidents')} ›`) : null, ' ',
      h('a', { href: '#/settings' }, `${t('settings.title')} ›`)));
  el.dataset.static = '1';
  if (codeFromLink) queueMicrotask(() => submit(codeFromLink, msg, button));
  return el;
}
