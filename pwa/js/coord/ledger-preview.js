// The ledger upload's preview (what would be added, updated, kept; every problem row; the
// columns as placed, each with a dropdown to change it) and the imported result, which
// lists the community's buildings with their households as they sync to this device.
import { h } from '../shared/dom.js';
import { byText } from './model.js';
import { indexes } from '../volunteer/model.js';
import { lt, rowWhy, FIELDS } from './ledger-strings.js';

const CAPTION = { textAlign: 'left', fontWeight: '700', padding: '6px 0' };

function fieldSelect(header, field, remap) {
  return h('select', { 'aria-label': header, onchange: (e) => remap(header, e.target.value) },
    field ? null : h('option', { value: '', selected: true }, lt('unplaced')),
    ...FIELDS.map((f) => h('option', { value: f, selected: f === field }, lt(`f.${f}`))));
}

function columnsTable(columns, map, remap) {
  const several = columns.some((c) => c[0]);
  return h('table.ledger-columns.brief-table', null,
    h('caption', { style: CAPTION }, lt('columns')),
    h('thead', null, h('tr', null, several ? h('th', null, lt('sheet')) : null, h('th', null, lt('column')), h('th', null, lt('field')))),
    h('tbody', null, ...columns.map(([sheet, header, field]) => h('tr', { dataset: { unplaced: field ? '0' : '1' } },
      several ? h('td', null, sheet) : null,
      h('td', null, header),
      h('td', null, fieldSelect(header, map[header] ?? field, remap))))));
}

function rejectedTable(rows, count) {
  if (!count) return h('p.ok', null, lt('noProblems'));
  const several = rows.some((r) => r.sheet);
  return h('table.ledger-rejected.brief-table', null,
    h('caption', { style: CAPTION }, lt('rejectedN', { n: count })),
    h('thead', null, h('tr', null, several ? h('th', null, lt('sheet')) : null, h('th', null, lt('row')), h('th', null, lt('why')))),
    h('tbody', null, ...rows.map((r) => h('tr', null,
      several ? h('td', null, r.sheet || '') : null, h('td', null, String(r.row)), h('td', null, rowWhy(r))))));
}

function counts(p) {
  return h('ul.ledger-counts', null,
    h('li', null, lt('added', { n: p.added })),
    h('li', null, lt('updated', { n: p.updated })),
    h('li', null, lt('unchanged', { n: p.unchanged })),
    h('li', null, lt('buildings', { n: p.buildings })),
    p.sheets_skipped ? h('li', null, lt('skipped', { names: p.sheets_skipped.join('、') })) : null,
    p.missing ? h('li', null, lt('missing', { n: p.missing }),
      h('details', null, h('summary', null, '…'), h('p', null, (p.missing_addresses || []).join('、')))) : null);
}

/** The preview, or the mapping a header needs before there can be one. */
export function previewPanel(state, { remap, again, confirm }) {
  const p = state.preview;
  const columns = state.columns || [];
  const unplaced = columns.some((c) => !c[2] && !state.map[c[1]]);
  return h('section.ledger-preview', { style: { display: 'grid', gap: '16px', marginTop: '16px' } },
    p ? counts(p) : null,
    p ? rejectedTable(p.rejected, p.rejected_count) : null,
    unplaced ? h('p.hint', null, lt('mapHint')) : null,
    columns.length ? columnsTable(columns, state.map, remap) : null,
    h('div.actions', { style: { display: 'flex', gap: '8px', flexWrap: 'wrap' } },
      columns.length ? h('button.big', { type: 'button', onclick: again }, lt('again')) : null,
      p ? h('button.big.primary', { type: 'button', onclick: confirm, disabled: !(p.added || p.updated) }, lt('confirm')) : null));
}

/** After the import: what was done, and the community's buildings as they sync here. */
export function importedPanel(result, replica) {
  const idx = indexes(replica);
  const buildings = replica.all('buildings').filter((b) => b.community === result.community)
    .sort((a, b) => byText(a.label, b.label));
  return h('section.ledger-imported', null,
    h('p.ok', { role: 'status' }, lt('done', { added: result.added, updated: result.updated })),
    rejectedTable(result.rejected, result.rejected_count),
    h('h2', null, lt('seeBelow')),
    buildings.length ? h('ul.ledger-buildings', null, ...buildings.map((b) => {
      const homes = idx.households.get(b.id) || [];
      return h('li', null, h('strong', null, b.label || ''), ' ', lt('householdsN', { n: homes.length }),
        h('ul', null, ...homes.map((hh) => h('li', null, `${lt(hh.unit ? 'unitRoom' : 'roomOnly', { unit: hh.unit, room: hh.room || '' })} ${hh.contact || ''}`))));
    })) : h('p.hint', null, lt('syncing')),
    h('a.big', { href: '#/' }, lt('home')));
}
