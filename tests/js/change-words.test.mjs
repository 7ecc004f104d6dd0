// A refused change on the settings page reads in words (#22): collection and field from the
// i18n tables, values as the app shows them, never a raw key, code or id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Replica } from '../../pwa/js/sync/replica.js';
import { setLang } from '../../pwa/js/shared/i18n.js';
import { changeWords } from '../../pwa/js/volunteer/change-words.js';

const N = '0123456789abcdef';
let tick = 0;
function put(r, coll, id, fields) {
  r.applyAll(Object.entries(fields).map(([field, value]) => ({
    coll, id, field, value, hlc: `2026-12-07T14:00:00.000Z-${(tick++).toString(16).padStart(4, '0')}-${N}`,
  })));
}
const r = new Replica();
put(r, 'buildings', 'b-7f3a', { label: '3号楼' });
put(r, 'households', 'h-91c2', { building: 'b-7f3a', unit: '2', room: '401' });
const me = { person: 'p-55aa', name: '王五' };
const words = (coll, field, value) => changeWords({ coll, field, value }, r, me);

test('a refused change names its collection and field in Chinese and shows the value it sent', () => {
  assert.equal(words('visits', 'outcome', 'exploded'), '走访 · 结果：exploded');
  assert.equal(words('visits', 'outcome', 'moved'), '走访 · 结果：已搬走');
  assert.equal(words('deliveries', 'status', 'returned'), '物资 · 状态：已回收');
  assert.equal(words('reports', 'status', 'pending'), '险情上报 · 状态：待处理');
  assert.equal(words('visits', 'needs', ['heater', 'water']), '走访 · 需求：电暖气、饮水');
  assert.equal(words('household_status', 'needs_open.medical', true), '住户需求 · 待解决需求加上：就医');
  assert.equal(words('households', 'vulnerable.lone_elderly', false), '住户 · 重点人群去掉：独居老人');
  assert.equal(words('household_status', 'restored', true), '住户需求 · 已恢复：是');
  assert.equal(words('notes', 'colour', 'x'), '其他记录 · 其他信息：x');
});

test('a refused change names records by what a person knows them by, never by id', () => {
  assert.equal(words('visits', 'household', 'h-91c2'), '走访 · 住户：3号楼 2 单元 401');
  assert.equal(words('reports', 'reporter', 'p-55aa'), '险情上报 · 上报人：王五');
  for (const [coll, field, id] of [['visits', 'household', 'h-gone'], ['reports', 'reporter', 'p-else'], ['reports', 'building', 'b-gone']]) {
    const s = words(coll, field, id);
    assert.ok(!s.includes(id) && s.endsWith('（未知）'), s);
  }
});

test('in English the same change reads in English', () => {
  globalThis.document ??= { documentElement: {} };
  setLang('en');
  try {
    assert.equal(words('visits', 'outcome', 'exploded'), 'Visit · outcome: exploded');
    assert.equal(words('visits', 'outcome', 'reached'), 'Visit · outcome: Reached');
  } finally { setLang('zh-CN'); }
});
