// Settings and sync: language, device, storage, what waits to upload, what was rejected
// (with the server's reason), "sync now" and the export of unsent entries.
import { h, mount, shortTime } from '../shared/dom.js';
import { t, label, getLang, setLang } from '../shared/i18n.js';
import { ctx } from '../shared/context.js';
import { toast, handleError } from '../shared/toast.js';
import { errorWords } from '../shared/api.js';
import { collectUnsent, download } from '../shared/export.js';
import { screen, titleBar } from './screen.js';
import { changeWords } from './change-words.js';

function rejectedList(items) {
  if (!items.length) return h('p.muted', null, t('settings.noRejected'));
  const { replica, meta } = ctx.store;
  // In words (#22): 走访 · 结果：exploded, never `visits.outcome = exploded`.
  return h('ul.plain.rejected-list', null, items.map((r) => h('li.rejected', { dataset: { hlc: r.hlc } },
    h('strong', null, changeWords(r.change, replica, meta.auth)),
    h('p.reason', null, errorWords(r.error)),
    h('p.muted', null, shortTime(r.at)))));
}

/**
 * Who this phone is enrolled as. The device number is for the coordinator's 设备 page only
 * (it names this phone when it is lost): folded away and shortened (#22 D23).
 */
function whoAmI(auth) {
  return h('div.field', null,
    h('p', null, auth.name ? `${auth.name} · ` : '', label('role', auth.role)),
    h('details.muted', null, h('summary', null, t('settings.device')),
      h('p', null, t('settings.deviceHelp'), ' ', h('span.device-id', null, shortNode(auth.node)))));
}

/** The last six characters of a node id, in groups a person can read out: "3F9-A21". */
export function shortNode(node) {
  const tail = String(node || '').slice(-6).toUpperCase();
  return tail.length > 3 ? `${tail.slice(0, 3)}-${tail.slice(3)}` : tail;
}

export function settingsView() {
  const { store } = ctx;
  const auth = store.meta.auth;
  const pendingBox = h('div');
  const rejectedBox = h('div');
  (async () => {
    try {
      const [pending, rejected] = await Promise.all([store.pendingRecords(), store.rejectedList()]);
      // Records, as the status line counts them; field changes mean nothing to a person (#22 D23).
      mount(pendingBox, h('p', null, h('strong', { dataset: { testid: 'pending-count' } },
        pending ? t('settings.pendingRecords', { n: pending }) : t('settings.nothingPending'))));
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
    auth ? whoAmI(auth) : null,
    ctx.persistent === false ? h('p.warn-box', null, t('storage.notPersistent')) : ctx.persistent ? h('p.muted', null, t('storage.persistent')) : null,
    ctx.swState === 'none' ? h('p.warn-box', null, t('sw.none')) : null,
    pendingBox,
    h('div.row', null,
      auth ? h('button.big.primary', { type: 'button', onclick: () => ctx.loop?.trigger('button') }, t('settings.syncNow')) : h('a.big.primary', { href: '#/enroll' }, t('enroll.title')),
      exportBtn),
    h('h2.panel-title', null, t('settings.rejected')),
    rejectedBox);
}
