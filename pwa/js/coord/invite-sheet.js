// The printable sheet of invites: one card per person with their QR code (SVG made by the
// server), the code to type and the expiry. The links use the address this console was
// reached on (or the server's --base-url).
import { h } from '../shared/dom.js';
import { ct } from './strings.js';
import { localTime } from './time.js';

const qrSrc = (svg) => `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;

function card(inv) {
  return h('article.invite-card', { dataset: { person: inv.person } },
    h('h3', null, inv.name),
    inv.phone ? h('p.muted', null, inv.phone) : null,
    h('img', { src: qrSrc(inv.qr), alt: ct('qrFor', { who: inv.name }), width: 180, height: 180 }),
    h('p.invite-code', null, inv.code),
    h('p.invite-url', null, inv.url),
    h('p.muted', null, ct('validUntil', { at: localTime(inv.expires_at) })));
}

/** The sheet of `invites` (a batch, or one re-invite), with its print button. */
export function inviteSheet(invites, onClose) {
  return h('section.panel.invite-print', { 'aria-label': ct('inviteSheet') },
    h('h2', null, ct('inviteSheetN', { n: invites.length })),
    h('p.muted.no-print', null, ct('inviteSheetHint')),
    h('p.no-print', null,
      h('button.big', { type: 'button', onclick: () => window.print() }, ct('print')), ' ',
      h('button.small-btn', { type: 'button', onclick: onClose }, ct('closeSheet'))),
    h('div.invite-sheet', null, invites.map(card)));
}
