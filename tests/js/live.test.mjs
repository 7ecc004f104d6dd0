// The dashboard's SSE parser (the coordinator stream is read with fetch, not EventSource)
// and the residents' group-chat digest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSSE } from '../../pwa/js/coord/sse.js';
import { digest } from '../../pwa/js/resident/digest.js';

test('parseSSE reads id, event and multi-line data, and keeps an unfinished event', () => {
  const text = 'retry: 2000\n\nid: 7\nevent: change\ndata: {"a":\ndata: 1}\n\n: ping\n\nid: 8\nevent: progress\r\ndata: {}\r\n\r\nid: 9\nda';
  const { events, rest } = parseSSE(text);
  assert.deepEqual(events, [
    { event: 'message', data: '', retry: 2000 },
    { event: 'change', data: '{"a":\n1}', id: '7' },
    { event: 'progress', data: '{}', id: '8' },
  ]);
  assert.equal(rest, 'id: 9\nda');
});

test('parseSSE gives the same events however the bytes are split', () => {
  const text = 'id: 1\nevent: change\ndata: {"x":1}\n\n: ping\n\nid: 2\nevent: progress\ndata: {"y":2}\n\n';
  const whole = parseSSE(text).events;
  for (let cut = 1; cut < text.length; cut += 1) {
    const a = parseSSE(text.slice(0, cut));
    const b = parseSSE(a.rest + text.slice(cut));
    assert.deepEqual([...a.events, ...b.events], whole, `cut at ${cut}`);
  }
});

test('digest words progress for the residents group in Chinese, with the link', () => {
  const p = {
    kind: 'heating_outage', title: '丽源路55号院停暖', status: 'repairing', affected: 741, restored: 0,
    eta: '2026-11-23T19:20:00Z', updates: [{ id: 'u', at: '2026-11-23T10:00:00Z', text: '抢修人员已下井作业。' }],
  };
  const lines = digest(p, 'https://x.example/r/abc', 'zh-CN').split('\n');
  assert.equal(lines[0], '【停暖进度通报】丽源路55号院停暖');
  assert.equal(lines[1], '当前状态：抢修中');
  assert.equal(lines[2], '已恢复 0 / 741 户');
  assert.match(lines[3], /^预计恢复：/);
  assert.match(lines[4], /抢修人员已下井作业。$/);
  assert.equal(lines[5], '实时进度：https://x.example/r/abc');
});

test('digest names the buildings restored and not yet', () => {
  const p = { kind: 'water_outage', title: '停水', status: 'repairing', affected: 20, restored: 10, buildings_done: ['1号楼'], buildings_waiting: ['2号楼', '3号楼'], updates: [] };
  const lines = digest(p, 'u', 'zh-CN').split('\n');
  assert.deepEqual(lines.slice(2, 5), ['已恢复 10 / 20 户', '已恢复：1号楼', '尚未恢复：2号楼、3号楼']);
});

test('digest leaves out counts the server withheld for a small incident', () => {
  const text = digest({ kind: 'leak', title: '楼道漏水', status: 'restored', affected: null, restored: null, updates: [] }, 'u', 'zh-CN');
  assert.doesNotMatch(text, /户/);
});

test('a nudge stream frame is recognised whole, and a half frame waits for the rest', async () => {
  const { scanNudges } = await import('../../pwa/js/sync/nudge.js');
  assert.deepEqual(scanNudges('retry: 2000\n\nevent: changed\ndata: {}\n\n'), { changed: true, rest: '' });
  assert.deepEqual(scanNudges(': ping\n\n'), { changed: false, rest: '' });
  assert.deepEqual(scanNudges('event: chan'), { changed: false, rest: 'event: chan' });
});
