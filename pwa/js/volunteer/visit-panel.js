// Record a visit in three taps: (1) the household tile, (2) the outcome, (3) the need —
// "reached, needs a heater" is saved on the third tap. Outcomes other than "reached"
// save on the second. Several needs or a note: one more link opens the full form.
import { h, mount } from '../shared/dom.js';
import { t, label } from '../shared/i18n.js';
import { toast, handleError } from '../shared/toast.js';
import { recordVisit } from './actions.js';

const OUTCOMES = ['reached', 'not_home', 'refused', 'moved'];
const NEEDS = ['heater', 'water', 'medical', 'food', 'other'];

/**
 * Keep the screen from being redrawn under the user's fingers while a visit is half done.
 * While the visit asks for needs, the card's own needs editor is hidden (app.css
 * `.visiting`): one needs picker on the page at a time (#22 D21).
 */
function hold(el, on) {
  const s = el.closest('.screen');
  if (!s) return;
  s.dataset.static = on ? '1' : '';
  s.classList.toggle('visiting', on);
}

export function visitPanel(incident, household) {
  const box = h('div.visit-panel');

  const save = async (outcome, needs = [], note = '') => {
    try {
      await recordVisit({ incident, household, outcome, needs, note });
      toast(t('visit.saved'), { kind: 'ok', ms: 2000 });
      hold(box, false);
      step1();
    } catch (err) {
      handleError(err, 'record visit');
    }
  };

  function step1() {
    mount(box,
      h('h2.panel-title', null, t('visit.title')),
      h('div.outcomes', null, OUTCOMES.map((o) => h(`button.big.outcome.o-${o}`, {
        type: 'button', dataset: { outcome: o },
        onclick: () => (o === 'reached' ? step2() : save(o)),
      }, label('outcome', o)))));
  }

  function step2() {
    hold(box, true);
    mount(box,
      h('h2.panel-title', null, `${label('outcome', 'reached')} · ${t('visit.needsPrompt')}`),
      h('div.needs-grid', null,
        h('button.big.need.none', { type: 'button', dataset: { need: 'none' }, onclick: () => save('reached') }, `✓ ${t('visit.noNeeds')}`),
        NEEDS.map((n) => h('button.big.need', { type: 'button', dataset: { need: n }, onclick: () => save('reached', [n]) }, label('need', n)))),
      h('div.panel-links', null,
        h('button.link', { type: 'button', onclick: () => full('reached') }, t('visit.more')),
        h('button.link', { type: 'button', onclick: () => { hold(box, false); step1(); } }, t('nav.back'))));
  }

  function full(outcome) {
    hold(box, true);
    const picked = new Set();
    const note = h('textarea.note', { rows: 3, maxLength: 4000, placeholder: t('visit.note') });
    mount(box,
      h('h2.panel-title', null, label('outcome', outcome)),
      h('div.chips', null, NEEDS.map((n) => h('button.chip', {
        type: 'button', 'aria-pressed': 'false',
        onclick: (e) => {
          const on = !picked.has(n);
          if (on) picked.add(n); else picked.delete(n);
          e.currentTarget.classList.toggle('on', on);
          e.currentTarget.setAttribute('aria-pressed', String(on));
        },
      }, label('need', n)))),
      note,
      h('div.row', null,
        h('button.big.primary', { type: 'button', onclick: () => save(outcome, [...picked], note.value.trim()) }, t('visit.save')),
        h('button.big', { type: 'button', onclick: () => { hold(box, false); step1(); } }, t('nav.back'))));
  }

  step1();
  return box;
}
