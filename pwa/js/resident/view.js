// The residents' page: status, restored x of y, expected time, what happened, updates.
import { h } from '../shared/dom.js';
import { rt, when } from './strings.js';

const names = (id, key, list) => (list?.length ? h('p.r-buildings', { id }, rt(key, { names: list.join(rt('sep')) })) : null);

/**
 * @param {object} p PublicProgress
 * @param {{onCopy: Function, onPush: Function, pushState: string}} actions
 */
export function residentView(p, { onCopy, onPush, pushState }) {
  const kind = rt(`kind.${p.kind || 'other'}`);
  const done = p.status === 'restored' || p.status === 'closed';
  const counts = p.affected !== null && p.affected !== undefined;
  return h('div.r-page', null,
    h('section.r-head', null,
      h('div.r-tags', null,
        h('span.r-kind', null, kind),
        h('span.r-status', { dataset: { status: p.status || 'reported' } }, rt(`status.${p.status || 'reported'}`))),
      h('h1', null, p.title || kind),
      p.started_at ? h('p.r-muted', null, rt('startedAt', { t: when(p.started_at) })) : null),
    h('section.r-card.r-figures', null,
      counts
        ? [h('p.r-big', { id: 'restored' }, rt('restored', { r: p.restored, a: p.affected })),
          h('progress.r-bar', { max: String(Math.max(p.affected, 1)), value: String(p.restored) }),
          // Restoration building by building (#12): shown once the first building is back.
          p.buildings_restored && !done ? h('p.r-muted', { id: 'restored-buildings' }, rt('buildings', { r: p.buildings_restored, a: p.buildings })) : null,
          // Which ones, by label (#22 D26): a resident looks for their own building.
          p.buildings_restored && !done ? names('buildings-done', 'buildingsDone', p.buildings_done) : null,
          p.buildings_restored && !done ? names('buildings-waiting', 'buildingsWaiting', p.buildings_waiting) : null,
          h('p.r-muted', null, rt('visited', { v: p.visited }))]
        : h('p.r-muted', null, rt('noCounts')),
      h('p.r-eta', null, done
        ? rt('restoredAt', { t: when(p.restored_at) || '—' })
        : (p.eta ? rt('eta', { t: when(p.eta) }) : rt('etaNone')))),
    p.summary ? h('section.r-card', null, h('h2', null, rt('what')), h('p.r-summary', null, p.summary)) : null,
    h('section.r-card', null,
      h('h2', null, rt('updates')),
      p.updates?.length
        ? h('ol.r-timeline', { id: 'updates' }, p.updates.map((u) =>
          h('li', null, h('time', { datetime: u.at || '' }, when(u.at)), h('p', null, u.text))))
        : h('p.r-muted', null, rt('noUpdates'))),
    h('section.r-actions', null,
      h('button.r-btn.r-primary', { type: 'button', id: 'copy', onclick: onCopy }, rt('copy')),
      pushState === 'unsupported' ? null
        : h('button.r-btn', { type: 'button', id: 'push', onclick: onPush, 'aria-pressed': String(pushState === 'on') },
          pushState === 'on' ? rt('subscribed') : rt('subscribe'))),
    h('p.r-privacy', null, rt('privacy')));
}

export function messageView(text) {
  return h('div.r-page', null, h('section.r-card', null, h('p.r-lead', null, text)));
}
