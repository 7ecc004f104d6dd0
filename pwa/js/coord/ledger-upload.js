// 上传台账: a coordinator uploads the community's household ledger, sees the preview with
// every problem row, places the columns the header did not name, and confirms
// (POST /api/v1/ledger, docs/ledger.md). The file is read once into memory and sent again
// to import: the server keeps nothing between the preview and the import.
import { h } from '../shared/dom.js';
import { ctx } from '../shared/context.js';
import { ApiError } from '../shared/api.js';
import { handleError } from '../shared/toast.js';
import { titleBar, screen } from '../volunteer/screen.js';
import { post } from './http.js';
import { lt, ledgerError } from './ledger-strings.js';
import { previewPanel, importedPanel } from './ledger-preview.js';

const NEW = '__new__';
// One upload at a time, kept across redraws (a sync redraws the console twice a second).
const state = { community: '', name: '', street: '', file: '', filename: '', map: {}, columns: null, preview: null, result: null, error: null, busy: '' };

function communities() {
  return ctx.store.replica.all('communities').filter((c) => c.name)
    .sort((a, b) => String(a.name).localeCompare(String(b.name), 'zh-CN'));
}

function readFile(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ''));
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}

async function send(dryRun) {
  const target = state.community && state.community !== NEW
    ? { community: state.community }
    : { community_name: state.name.trim() || null, street: state.street.trim() || null };
  state.busy = dryRun ? lt('reading') : lt('importing');
  state.error = null;
  ctx.redraw?.(true);
  try {
    const answer = await post('/api/v1/ledger', { file: state.file, filename: state.filename, map: state.map, dry_run: dryRun, ...target });
    state.columns = answer.columns;
    if (dryRun) state.preview = answer;
    else { state.result = answer; state.preview = null; state.community = answer.community; }
  } catch (err) {
    if (!(err instanceof ApiError) || err.retryable) handleError(err, 'ledger upload');
    state.error = err;
    state.preview = null;
    if (err?.code === 'ledger_header_unrecognised' && err.details?.columns) state.columns = err.details.columns;
  } finally {
    state.busy = '';
    ctx.redraw?.(true);
  }
}

function communityPicker() {
  const list = communities();
  if (!state.community) state.community = list.length ? list[0].id : NEW;
  const isNew = state.community === NEW;
  return h('div.ledger-community', null,
    h('label.field-label', null, lt('community'), ' ',
      h('select', { name: 'community', onchange: (e) => { state.community = e.target.value; ctx.redraw?.(true); } },
        ...list.map((c) => h('option', { value: c.id, selected: c.id === state.community }, c.name)),
        h('option', { value: NEW, selected: isNew }, lt('newCommunity')))),
    isNew ? h('label.field-label', null, lt('communityName'), ' ',
      h('input', { name: 'community_name', value: state.name, required: true, maxlength: 100, oninput: (e) => { state.name = e.target.value; } })) : null,
    isNew ? h('label.field-label', null, lt('street'), ' ',
      h('input', { name: 'street', value: state.street, maxlength: 100, oninput: (e) => { state.street = e.target.value; } })) : null);
}

function filePicker() {
  const onchange = async (e) => {
    const file = e.target.files?.[0];
    if (!file) return;
    try {
      Object.assign(state, { file: await readFile(file), filename: file.name, map: {}, columns: null, preview: null, result: null, error: null });
    } catch (err) { handleError(err, 'read ledger file'); return; }
    await send(true);
  };
  return h('div.ledger-file', null,
    h('label.field-label', null, lt('file'), ' ', h('input', { type: 'file', name: 'ledger', accept: '.xlsx,.csv,text/csv', onchange })),
    state.filename ? h('p.hint', null, lt('chosen', { name: state.filename })) : null);
}

export function ledgerView() {
  const body = [h('p.hint', null, lt('intro')), communityPicker(), filePicker()];
  if (state.busy) body.push(h('p.busy', { role: 'status' }, state.busy));
  if (state.error) body.push(h('p.error-box', { role: 'alert' }, ledgerError(state.error)));
  if (state.result) body.push(importedPanel(state.result, ctx.store.replica));
  else if (state.columns || state.preview) {
    body.push(previewPanel(state, {
      remap: (header, field) => { state.map = { ...state.map, [header]: field }; },
      again: () => send(true),
      confirm: () => send(false),
    }));
  }
  return screen(titleBar(lt('title'), { back: '/' }), h('div.ledger', null, body));
}
