// A change the server refused is explained in the user's language by its code (docs/
// protocol.md, "Rejection codes"), never by the raw code or the server's English message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rejectionText } from '../../pwa/js/shared/rejections.js';
import zh from '../../pwa/js/i18n/zh-CN.js';
import en from '../../pwa/js/i18n/en.js';

test('an over-budget refusal reads in Chinese, and every reject word has its English twin', () => {
  const text = rejectionText({ error: 'over_budget', message: 'this device has written more…' });
  assert.match(text, /上传的记录太多/);
  assert.doesNotMatch(text, /over_budget|device/);
  const keys = (d) => Object.keys(d).filter((k) => k.startsWith('reject.')).sort();
  assert.deepEqual(keys(en), keys(zh));
  assert.equal(rejectionText({ error: 'a_code_from_a_newer_server' }), zh['reject.other']);
});
