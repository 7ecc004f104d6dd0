// The incident's updates, newest first, marked public or internal.
import { h } from '../shared/dom.js';
import { ct } from './strings.js';
import { localTime } from './time.js';

export function updatesList(replica, inc) {
  const list = replica.all('updates').filter((u) => u.incident === inc.id)
    .sort((a, b) => String(b.at).localeCompare(String(a.at)));
  return h('ol.updates', null, list.map((u) => h('li', null,
    h('span.muted', null, localTime(u.at), ' '),
    h(`span.badge${u.public ? '.pub' : ''}`, null, u.public ? ct('publicTag') : ct('internal')),
    h('p', null, u.text))));
}
