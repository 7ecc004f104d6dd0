// The household's shared status in this incident: open needs, restored, satisfaction.
// One deterministic record (<incident>~<household>) that every phone edits; LWW per field,
// open needs per element (only the needs this person turned on or off are written).
import { h } from '../shared/dom.js';
import { t, label } from '../shared/i18n.js';
import { toast, handleError } from '../shared/toast.js';
import { saveHouseholdStatus } from './actions.js';

const NEEDS = ['heater', 'water', 'medical', 'food', 'other'];

export function needsEditor(incident, household, view) {
  const picked = new Set(view.needsOpen);
  let restored = view.status?.restored === true;
  let satisfaction = view.status?.satisfaction ?? null;
  const box = h('div.needs-editor');
  const dirty = () => { const s = box.closest('.screen'); if (s) s.dataset.static = '1'; };

  const toggle = (btn, on) => { btn.classList.toggle('on', on); btn.setAttribute('aria-pressed', String(on)); };
  const needChip = (n) => {
    const b = h('button.chip', { type: 'button', dataset: { need: n }, onclick: () => {
      if (picked.has(n)) picked.delete(n); else picked.add(n);
      toggle(b, picked.has(n)); dirty();
    } }, label('need', n));
    toggle(b, picked.has(n));
    return b;
  };
  const restoredBtn = h('button.chip', { type: 'button', onclick: () => { restored = !restored; toggle(restoredBtn, restored); dirty(); } }, `✓ ${t('household.restored')}`);
  toggle(restoredBtn, restored);
  const stars = [1, 2, 3, 4, 5].map((n) => h('button.star', { type: 'button', 'aria-label': String(n), onclick: () => {
    satisfaction = satisfaction === n ? null : n;
    stars.forEach((s, i) => s.classList.toggle('on', satisfaction !== null && i < satisfaction)); dirty();
  } }, '★'));
  stars.forEach((s, i) => s.classList.toggle('on', satisfaction !== null && i < satisfaction));

  const save = async () => {
    try {
      // Only the needs this person changed: another phone's concurrent add is kept.
      const seen = new Set(view.needsOpen);
      const fields = {
        added: NEEDS.filter((n) => picked.has(n) && !seen.has(n)),
        removed: NEEDS.filter((n) => !picked.has(n) && seen.has(n)),
      };
      if (restored !== (view.status?.restored === true)) fields.restored = restored;
      if (satisfaction !== null && satisfaction !== view.status?.satisfaction) fields.satisfaction = satisfaction;
      await saveHouseholdStatus(incident, household, fields);
      const s = box.closest('.screen');
      if (s) s.dataset.static = '';
      toast(t('visit.saved'), { kind: 'ok', ms: 2000 });
    } catch (err) { handleError(err, 'save household status'); }
  };

  box.append(
    h('h2.panel-title', null, t('household.needs')),
    h('div.chips', null, NEEDS.map(needChip)),
    h('div.chips', null, restoredBtn, h('span.stars', { 'aria-label': t('household.satisfaction') }, h('span.muted', null, t('household.satisfaction')), stars)),
    h('button.big.save-needs', { type: 'button', onclick: save }, t('household.saveNeeds')));
  return box;
}
