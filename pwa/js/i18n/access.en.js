// Words of the login and devices pages, English.
export default {
  loginTitle: 'Coordinator login', login: 'Login', password: 'Password', logIn: 'Log in',
  afterLogin: 'After login:', dashboard: 'the dashboard', loggingIn: 'Logging in…', loginFailed: 'Login failed: {msg}',
  devicesTitle: 'Devices and export', back: '‹ Back to the dashboard', exportTitle: 'Export an incident', incident: 'Incident',
  noIncidents: 'No incidents yet.', devices: 'Devices',
  revokeHint: 'A revoked phone deletes local personal data at its next sync; unsent entries stay exportable.',
  person: 'Person', role: 'Role', device: 'Device', lastSeen: 'Last sync', pending: 'Waiting', action: 'Action',
  revoke: 'Revoke', revoked: 'Revoked', revokedAt: 'Revoked {at}', revokeQ: 'Revoke {who}\'s device “{dev}”?',
  revokedMsg: 'Revoked {who}\'s device', revokeFailed: 'Revoke failed: {msg}', logout: 'Log out',
  sessionUntil: '{who} · session until {at}', error: 'Error: {msg}', never: 'never',
  'role.volunteer': 'Volunteer', 'role.coordinator': 'Coordinator', browser: 'browser', phone: 'phone',
  lang: '中文', langName: 'Switch to Chinese', pageLogin: 'Coordinator login · Doorstep', pageDevices: 'Devices and export · Doorstep',
};
