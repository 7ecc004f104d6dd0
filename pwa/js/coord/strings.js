// Words of the coordinator's dashboard, zh-CN first; enumerations (kinds, statuses,
// outcomes, needs, household states) come from the app's shared dictionaries.
import { getLang } from '../shared/i18n.js';

const zh = {
  title: '应急指挥', incidents: '事件', newIncident: '开启新事件', noIncidents: '还没有事件',
  quarantine: '待审核的退回记录', notCoordinator: '这台设备登记的是志愿者身份。请用协调员邀请码登记。',
  affected: '受影响', visited: '已走访', reached: '已联系', vulnerable: '重点人群',
  vulnReached: '重点人群已联系', needsOpen: '待解决需求', heatersOut: '电暖气在外', restored: '已恢复',
  households: '户', eta: '预计恢复', setEta: '更新预计时间', status: '状态',
  postUpdate: '发布进度通报', updateText: '通报内容', public: '公开给居民（居民页面可见，勿写住户信息）',
  internal: '内部', publicTag: '公开', post: '发布', posted: '已发布',
  share: '居民链接', makeLink: '生成居民链接', copyLink: '复制链接', copied: '已复制',
  board: '楼栋看板', chart: '进度曲线', needs: '待解决需求', noNeeds: '没有待解决的需求',
  kind: '类型', name: '标题', summary: '情况说明（居民可见）', scope: '影响范围（选择楼栋）',
  affectedN: '受影响 {n} 户', open: '开启事件', opened: '事件已开启', units: '{n} 个单元',
  history: '修改记录', winner: '当前值', overwritten: '被覆盖', by: '{who} · {at}',
  noHistory: '没有修改记录', resolve: '标记已审核', resolved: '已审核', nothing: '没有待审核的记录',
  live: '实时', reconnecting: '重连中…', liveOff: '未连接',
  lowDisk: '服务器磁盘空间不足（剩余 {mb} MB）：请通知管理员清理或扩容，否则新记录将无法保存。',
  visits: '走访', restoredMark: '已恢复供应', legendRestored: '已恢复',
  reachedLine: '已联系', restoredLine: '已恢复', time: '时间', back: '返回',
  chooseBuildings: '请至少选择一栋楼', unknownPerson: '未知',
  assign: '分配志愿者', assignTitle: '分配志愿者', volunteer: '志愿者', chooseVolunteer: '选择志愿者',
  loading: '正在加载…', devicesN: '{n} 台设备', noVolunteers: '还没有志愿者。请先在“设备”页或命令行发邀请码。',
  assignBuildings: '负责的楼栋', wholeIncident: '整个事件', assigned: '已分配', unassigned: '已收回',
  assignHint: '勾选后志愿者的手机在下次同步时收到这些楼栋的住户；取消勾选后，手机下次同步时删除该楼栋的个人信息。',
  devices: '设备', loginLink: '协调员用密码登录',
};

const en = {
  title: 'Coordination', incidents: 'Incidents', newIncident: 'Open an incident', noIncidents: 'No incidents yet',
  quarantine: 'Rejected changes to review', notCoordinator: 'This device is enrolled as a volunteer. Enrol it with a coordinator invite.',
  affected: 'Affected', visited: 'Visited', reached: 'Reached', vulnerable: 'Vulnerable',
  vulnReached: 'Vulnerable reached', needsOpen: 'Open needs', heatersOut: 'Heaters out', restored: 'Restored',
  households: 'households', eta: 'Expected', setEta: 'Set expected time', status: 'Status',
  postUpdate: 'Post a progress update', updateText: 'Update', public: 'Public (shown to residents — no household details)',
  internal: 'internal', publicTag: 'public', post: 'Post', posted: 'Posted',
  share: 'Residents\' link', makeLink: 'Create residents\' link', copyLink: 'Copy link', copied: 'Copied',
  board: 'Building board', chart: 'Progress over time', needs: 'Open needs', noNeeds: 'No open needs',
  kind: 'Kind', name: 'Title', summary: 'Summary (shown to residents)', scope: 'Scope (buildings)',
  affectedN: '{n} households affected', open: 'Open incident', opened: 'Incident opened', units: '{n} units',
  history: 'Edit history', winner: 'current', overwritten: 'overwritten', by: '{who} · {at}',
  noHistory: 'No edits', resolve: 'Mark reviewed', resolved: 'Reviewed', nothing: 'Nothing to review',
  live: 'Live', reconnecting: 'Reconnecting…', liveOff: 'Not connected',
  lowDisk: 'The server is low on disk ({mb} MB free): tell the administrator, or new entries cannot be saved.',
  visits: 'Visits', restoredMark: 'Restored', legendRestored: 'restored',
  reachedLine: 'Reached', restoredLine: 'Restored', time: 'Time', back: 'Back',
  chooseBuildings: 'Choose at least one building', unknownPerson: 'unknown',
  assign: 'Assign volunteers', assignTitle: 'Assign volunteers', volunteer: 'Volunteer', chooseVolunteer: 'Choose a volunteer',
  loading: 'Loading…', devicesN: '{n} devices', noVolunteers: 'No volunteers yet. Send an invite code first.',
  assignBuildings: 'Buildings they cover', wholeIncident: 'The whole incident', assigned: 'Assigned', unassigned: 'Taken back',
  assignHint: 'Ticked: the volunteer\'s phone gets these buildings\' households at its next sync. Unticked: the phone deletes that building\'s personal data at its next sync.',
  devices: 'Devices', loginLink: 'Coordinators: log in with a password',
};

export function ct(key, params) {
  let s = (getLang() === 'en' ? en : zh)[key] ?? zh[key] ?? key;
  if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
  return s;
}
