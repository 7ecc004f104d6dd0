// Words of the login and devices pages, zh-CN.
export default {
  loginTitle: '负责人登录', login: '登录名', password: '密码', logIn: '登录',
  afterLogin: '登录后进入', dashboard: '指挥台', loggingIn: '正在登录…', loginFailed: '登录失败：{msg}',
  devicesTitle: '设备与导出', back: '‹ 返回指挥台', exportTitle: '导出事件数据', incident: '事件',
  noIncidents: '还没有事件。', devices: '设备',
  revokeHint: '停用后，该手机下次联网时会删除本地的住户个人信息，未上传记录仍可导出。',
  person: '人员', role: '角色', device: '设备', lastSeen: '最后同步', pending: '待上传', action: '操作',
  revoke: '停用', revoked: '已停用', revokedAt: '已停用 {at}', revokeQ: '停用 {who} 的设备“{dev}”？',
  revokedMsg: '已停用 {who} 的设备', revokeFailed: '停用失败：{msg}', logout: '退出登录',
  sessionUntil: '{who} · 登录有效至 {at}', error: '出错了：{msg}', never: '从未',
  'role.volunteer': '志愿者', 'role.coordinator': '负责人', browser: '浏览器', phone: '手机',
  lang: 'English', langName: '切换到英文', pageLogin: '负责人登录 · Doorstep', pageDevices: '设备与导出 · Doorstep',
};
