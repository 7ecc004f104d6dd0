// The "copy for the residents' group" text: what a community worker used to type by hand.
import { rt, when } from './strings.js';

/**
 * Plain text for a group chat from the public view of an incident.
 * @param {object} p  PublicProgress (GET /api/v1/public/<token>)
 * @param {string} url the residents' link
 * @param {string} [lang]
 */
export function digest(p, url, lang) {
  const kind = rt(`kind.${p.kind || 'other'}`, null, lang);
  const lines = [rt('digestHead', { kind, title: p.title || kind }, lang)];
  if (p.status) lines.push(rt('digestStatus', { s: rt(`status.${p.status}`, null, lang) }, lang));
  if (p.affected !== null && p.affected !== undefined) {
    lines.push(rt('restored', { r: p.restored, a: p.affected }, lang));
  }
  const done = p.status === 'restored' || p.status === 'closed';
  // Which buildings are back, by label (#22 D26): the first thing a neighbour asks.
  if (!done && p.buildings_done?.length) {
    lines.push(rt('buildingsDone', { names: p.buildings_done.join(rt('sep', null, lang)) }, lang));
    if (p.buildings_waiting?.length) lines.push(rt('buildingsWaiting', { names: p.buildings_waiting.join(rt('sep', null, lang)) }, lang));
  }
  if (done) {
    if (p.restored_at) lines.push(rt('restoredAt', { t: when(p.restored_at, lang) }, lang));
  } else {
    lines.push(p.eta ? rt('eta', { t: when(p.eta, lang) }, lang) : rt('etaNone', null, lang));
  }
  const latest = p.updates?.[0];
  if (latest) lines.push(rt('digestLatest', { t: when(latest.at, lang), text: latest.text }, lang));
  lines.push(rt('digestLink', { url }, lang));
  return lines.join('\n');
}
