// The residents' link of an incident, with its QR code to print or show.
import { h } from '../shared/dom.js';
import { handleError, toast } from '../shared/toast.js';
import { ct } from './strings.js';
import { post } from './http.js';

const shares = new Map(); // incident id → {url, token}

export function shareBox(inc) {
  const box = h('section.panel.share', { dataset: { i: inc.id } });
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
      // A live update may have redrawn the overview while the link was being made: the box
      // on the page now is another one, drawn without the link. Draw every one showing.
      for (const other of document.querySelectorAll('section.share')) {
        if (other !== box && other.dataset.i === inc.id) other.redraw?.();
      }
    } catch (err) { handleError(err, 'share'); }
  }
  box.redraw = draw;
  draw();
  return box;
}
