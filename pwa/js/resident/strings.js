// Words of the residents' page, zh-CN first. The language choice is the app's own
// (shared/i18n.js), so a volunteer who switched to English sees English here too.
import { getLang } from '../shared/i18n.js';

const zh = {
  title: '抢修进度',
  'kind.heating_outage': '停暖', 'kind.water_outage': '停水', 'kind.pipe_burst': '爆管',
  'kind.leak': '漏水', 'kind.power_outage': '停电', 'kind.other': '突发情况',
  'status.reported': '已上报', 'status.responding': '已响应', 'status.repairing': '抢修中',
  'status.restored': '已恢复', 'status.closed': '已结束',
  restored: '已恢复 {r} / {a} 户',
  buildings: '已恢复 {r} / {a} 栋',
  buildingsDone: '已恢复：{names}', buildingsWaiting: '尚未恢复：{names}', sep: '、',
  visited: '已入户走访 {v} 户',
  noCounts: '受影响住户较少，不公布户数。',
  eta: '预计恢复：{t}',
  etaNone: '预计恢复时间待定',
  restoredAt: '恢复时间：{t}',
  startedAt: '发生时间：{t}',
  what: '发生了什么',
  updates: '进度通报',
  noUpdates: '暂无通报',
  live: '实时更新中', connecting: '连接中…', lost: '连接中断，正在重连…',
  subscribe: '有新进展时通知我', subscribed: '已开启通知（点此关闭）',
  pushOn: '已开启通知', pushOff: '已关闭通知',
  pushNo: '此浏览器不支持通知（如微信内置浏览器）。请用手机自带浏览器打开本页。',
  pushDenied: '通知权限被拒绝，可在浏览器设置中开启。',
  pushFailed: '开启通知失败，请稍后再试。',
  copy: '复制到居民群', copied: '已复制，可粘贴到居民群',
  copyFailed: '无法自动复制，请长按下面的文字手动复制。',
  badLink: '这个链接无效或已过期。请在居民群里获取最新链接。',
  offline: '网络不通，显示的是上次看到的进度。',
  digestHead: '【{kind}进度通报】{title}',
  digestStatus: '当前状态：{s}',
  digestLatest: '最新进展（{t}）：{text}',
  digestLink: '实时进度：{url}',
  privacy: '本页只显示整体进度，不含任何住户信息。',
};

const en = {
  title: 'Repair progress',
  'kind.heating_outage': 'Heating outage', 'kind.water_outage': 'Water outage',
  'kind.pipe_burst': 'Burst pipe', 'kind.leak': 'Leak', 'kind.power_outage': 'Power outage',
  'kind.other': 'Emergency',
  'status.reported': 'Reported', 'status.responding': 'Responding', 'status.repairing': 'Repairing',
  'status.restored': 'Restored', 'status.closed': 'Closed',
  restored: '{r} of {a} households restored',
  buildings: '{r} of {a} buildings restored',
  buildingsDone: 'Restored: {names}', buildingsWaiting: 'Not yet: {names}', sep: ', ',
  visited: '{v} households visited',
  noCounts: 'Few households are affected, so no counts are shown.',
  eta: 'Expected back: {t}',
  etaNone: 'Expected time not known yet',
  restoredAt: 'Restored at {t}',
  startedAt: 'Started {t}',
  what: 'What happened',
  updates: 'Progress updates',
  noUpdates: 'No updates yet',
  live: 'Live', connecting: 'Connecting…', lost: 'Connection lost, reconnecting…',
  subscribe: 'Notify me of news', subscribed: 'Notifications on (tap to turn off)',
  pushOn: 'Notifications on', pushOff: 'Notifications off',
  pushNo: 'This browser cannot show notifications (e.g. WeChat). Open this page in the phone\'s browser.',
  pushDenied: 'Notifications are blocked; allow them in the browser settings.',
  pushFailed: 'Could not turn on notifications; try again later.',
  copy: 'Copy for the residents\' group', copied: 'Copied — paste it into the group chat',
  copyFailed: 'Could not copy; long-press the text below to copy it.',
  badLink: 'This link is not valid any more. Ask in the residents\' group for the current one.',
  offline: 'No connection; showing the progress last seen.',
  digestHead: '[{kind} update] {title}',
  digestStatus: 'Status: {s}',
  digestLatest: 'Latest ({t}): {text}',
  digestLink: 'Live progress: {url}',
  privacy: 'This page shows overall progress only, nothing about any household.',
};

const DICTS = { 'zh-CN': zh, en };

/** Translate `key` in `lang` (default: the app's language), filling `{name}`s. */
export function rt(key, params, lang = getLang()) {
  let s = (DICTS[lang] || zh)[key] ?? zh[key] ?? key;
  if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
  return s;
}

/** "11月23日 03:20" / "Nov 23, 03:20" in the phone's time zone; '' for no time. */
export function when(iso, lang = getLang()) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return new Intl.DateTimeFormat(lang === 'en' ? 'en-GB' : 'zh-CN', {
    month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false,
  }).format(d);
}
