// Shared screen furniture: the title bar with a back link, and section headings.
import { h } from '../shared/dom.js';
import { t } from '../shared/i18n.js';

/**
 * @param {string} title
 * @param {{back?: string, actions?: Node[]}} [opts] back = hash path of the parent screen
 */
export function titleBar(title, { back, actions = [] } = {}) {
  return h('div.titlebar', null,
    back ? h('a.back', { href: `#${back}`, 'aria-label': t('nav.back') }, '‹') : null,
    h('h1', null, title),
    h('div.titlebar-actions', null, actions));
}

export function screen(...children) {
  return h('section.screen', null, children);
}
