// A coordinator's writes to field reports (#22 D18) and to posted updates (D10: edit and
// retract). Field changes like every other write: stamped, stored, pushed by the sync loop.
import { uuidv7 } from '../shared/uuidv7.js';
import { ctx } from '../shared/context.js';
import { write, iso } from './actions.js';
import { label } from '../shared/i18n.js';


/** The acknowledgement fields (when, who), written once with the first action on a report. */
function ack(report) {
  if (report.ack_at) return {};
  const fields = { ack_at: iso(ctx.store.now()) };
  if (ctx.store.meta.auth?.person) fields.ack_by = ctx.store.meta.auth.person;
  return fields;
}

/** 确认收到: the report leaves every dashboard's inbox, 已确认. */
export function ackReport(report) {
  return write([['reports', report.id, { status: 'acknowledged', ...ack(report) }]]);
}

/** 并入事件: attach the report to an incident already running, 已并入. */
export function attachReport(report, incident) {
  return write([['reports', report.id, { status: 'merged', incident, ...ack(report) }]]);
}

/**
 * 转为事件: open a new incident from the report, over its building if it named one, in one
 * transaction with the report's 已转为事件. The title is made from the kind and the place
 * the coordinator can see; the volunteer's own words stay in the report (residents see an
 * incident's title, never a report).
 * @returns {Promise<string>} the new incident's id
 */
export async function reportToIncident(report, { title, buildings, community }) {
  const now = ctx.store.now();
  const id = uuidv7(now);
  const fields = {
    kind: report.kind || 'other', title: title || label('kind', report.kind || 'other'),
    status: 'responding', buildings, started_at: report.at || iso(now), ack_at: iso(now),
  };
  if (ctx.store.meta.auth?.person) fields.ack_by = ctx.store.meta.auth.person;
  if (community) fields.community = community;
  await write([['incidents', id, fields], ['reports', report.id, { status: 'converted', incident: id, ...ack(report) }]]);
  return id;
}

/** Change a posted update's text: residents' pages replace it live if it is public. */
export function editUpdate(id, text) {
  return write([['updates', id, { text }]]);
}

/** Retract a public update: residents' pages drop it and it is never served again. */
export function retractUpdate(id) {
  return write([['updates', id, { public: false }]]);
}
