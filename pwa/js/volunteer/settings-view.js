// Settings and sync: language, device, storage, what waits to upload, what was rejected
// (with the server's reason), "sync now" and the export of unsent entries.
import { h, mount, shortTime } from '../shared/dom.js';
import { t, label, getLang, setLang } from '../shared/i18n.js';
import { ctx } from '../shared/context.js';
import { toast, handleError } from '../shared/toast.js';
import { collectUnsent, download } from '../shared/export.js';
import { rejectionText } from '../shared/rejections.js';
import { screen, titleBar } from './screen.js';

function describe(change) {
  const v = typeof change.value === 'string' ? change.value : JSON.stringify(change.value);
  return `${change.coll}.${change.field} = ${v && v.length > 60 ? `${v.slice(0, 60)}…` : v}`;
}

function rejectedList(items) {
  if (!items.length) return h('p.muted', null, t('settings.noRejected'));
  return h('ul.plain.rejected-list', null, items.map((r) => h('li.rejected', { dataset: { hlc: r.hlc } },
    h('strong', null, describe(r.change)),
    h('p.reason', { title: r.message || '' }, rejectionText(r)),
    h('p.muted', null, shortTime(r.at)))));
}

export function settingsView() {
  const { store } = ctx;
  const auth = store.meta.auth;
  const pendingBox = h('div');
  const rejectedBox = h('div');
  (async () => {
    try {
      const [pending, fields, rejected] = await Promise.all([store.pendingRecords(), store.pendingCount(), store.rejectedList()]);
      mount(pendingBox, h('p', null, `${t('settings.pending')}: `, h('strong', { dataset: { testid: 'pending-count' } }, String(pending)), h('span.muted', null, ` (${t('settings.fields', { n: fields })})`)));
      mount(rejectedBox, h('p.muted', null, t('settings.rejectedHelp')), rejectedList(rejected));
    } catch (err) { handleError(err, 'read outbox'); }
  })();
  const exportBtn = h('button.big', { type: 'button', onclick: async () => {
    try {
      const bundle = await collectUnsent(store);
      download(`doorstep-unsent-${new Date().toISOString().slice(0, 16).replace(/[:T]/g, '')}.json`, bundle);
      toast(t('settings.exported', { n: bundle.changes.length + bundle.rejected.length }), { kind: 'ok' });
    } catch (err) { handleError(err, 'export'); }
  } }, t('settings.export'));
  const langBtn = (code, text) => h(`button.chip${getLang() === code ? '.on' : ''}`, { type: 'button', onclick: () => setLang(code) }, text);
  return screen(
    titleBar(t('settings.title'), { back: '/' }),
    h('div.field', null, h('span.field-label', null, t('settings.lang')), h('div.chips', null, langBtn('zh-CN', '中文'), langBtn('en', 'English'))),
    auth ? h('p', null, label('role', auth.role), h('br'), h('span.muted', null, `${t('settings.device')}: ${auth.node}`)) : null,
    ctx.persistent === false ? h('p.warn-box', null, t('storage.notPersistent')) : ctx.persistent ? h('p.muted', null, t('storage.persistent')) : null,
    ctx.swState === 'none' ? h('p.warn-box', null, t('sw.none')) : null,
    pendingBox,
    h('div.row', null,
      auth ? h('button.big.primary', { type: 'button', onclick: () => ctx.loop?.trigger('button') }, t('settings.syncNow')) : h('a.big.primary', { href: '#/enroll' }, t('enroll.title')),
      exportBtn),
    h('h2.panel-title', null, t('settings.rejected')),
    rejectedBox);
}
