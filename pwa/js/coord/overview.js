// The overview section: the levers (status, expected time, updates, residents' link) and
// the picture (progress chart, updates posted). Two columns on a laptop.
import { h } from '../shared/dom.js';
import { ct } from './strings.js';
import { statusControls } from './status-controls.js';
import { updateForm } from './update-form.js';
import { updatesList } from './updates-list.js';
import { shareBox } from './share-box.js';
import { progressChart } from './chart.js';
import { series } from './model.js';

export function overview(replica, inc) {
  return h('div.overview', null,
    h('div.ov-col', null, statusControls(inc), updateForm(inc), shareBox(inc)),
    h('div.ov-col', null,
      h('section.panel', null, h('h2', null, ct('chart')), progressChart(series(replica, inc))),
      h('section.panel', null, h('h2', null, ct('updatesTitle')), updatesList(replica, inc))));
}
