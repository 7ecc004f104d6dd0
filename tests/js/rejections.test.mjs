// A change the server refused is explained in the user's language by its code (docs/
// protocol.md, "Rejection codes"), from the one table of error words, never by the raw code
// or the server's English message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import zh from '../../pwa/js/i18n/errors.zh-CN.js';
import en from '../../pwa/js/i18n/errors.en.js';
import { errorWords } from '../../pwa/js/shared/api.js';

test('an over-budget refusal reads in Chinese, and every error word has its English twin', () => {
  const text = errorWords('over_budget');
  assert.match(text, /上传的记录太多/);
  assert.doesNotMatch(text, /over_budget|device/);
  assert.deepEqual(Object.keys(en).sort(), Object.keys(zh).sort());
  assert.equal(errorWords('a_code_from_a_newer_server'), zh.generic);
});
