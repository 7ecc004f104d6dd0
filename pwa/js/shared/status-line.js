// The permanent status line: whose phone, 离线/在线/连不上服务器, "3 户待上传（19 条记录）", last synced
// time, rejected count.
// It reads everything from the store and the loop state, so any page can mount it.
import { h, mount, shortTime } from './dom.js';
import { t } from './i18n.js';

/**
 * @param {object} info {name, online, phase, doors, pending, rejected, lastSync, pulled}
 * @returns {HTMLElement[]} the parts of the line
 */
export function statusParts(info) {
  const parts = [];
  if (info.name) parts.push(h('span.st-name', { dataset: { testid: 'me' } }, info.name));
  // 离线 means the phone has no network; a server that does not answer is something else
  // (#22 D19: the console said 离线 beside a live stream).
  const online = info.online && info.phase !== 'error';
  const net = !info.online ? t('status.offline') : info.phase === 'syncing' ? t('status.syncing')
    : info.phase === 'error' ? t('status.unreachable') : t('status.online');
  parts.push(h(`span.st-net.${online ? 'on' : 'off'}`, { dataset: { testid: 'net' } }, net));
  if (info.phase === 'syncing' && info.pulled > 0) parts.push(h('span.st-progress', null, t('status.pulled', { n: info.pulled })));
  if (info.pending > 0) parts.push(h('span.st-pending', { dataset: { testid: 'pending' } }, info.doors ? t('status.waitingDoors', { d: info.doors, n: info.pending }) : t('status.waiting', { n: info.pending })));
  else if (info.lastSync && info.phase !== 'syncing' && online) parts.push(h('span.st-synced', { dataset: { testid: 'synced' } }, t('status.synced')));
  if (info.rejected > 0) parts.push(h('span.st-rejected', null, t('status.rejected', { n: info.rejected })));
  parts.push(h('span.st-last', null, info.lastSync ? t('status.last', { time: shortTime(info.lastSync) }) : t('status.never')));
  return parts;
}

export function renderStatusLine(el, info) {
  mount(el, ...statusParts(info));
  el.classList.toggle('has-pending', info.pending > 0);
  el.classList.toggle('is-offline', !info.online);
}
