"""One language at a time, errors included (issue 19, part 5): every error code the server
can send has words in the PWA's table, zh-CN and English, so a page never shows the
server's English ``message`` inside the Chinese UI.

The codes are walked from the code that sends them: the domain errors and the framework's
statuses (server/errors.py), every ``code="…"`` at a raise site, the rate limiter's and the
listener's own answers, the invite refusals, and the reasons a change is refused (sync/).
"""

import json
import re
import subprocess
from pathlib import Path

from server.errors import _HTTP_CODES
from server.http.phones import _INVITE_ERRORS

ROOT = Path(__file__).resolve().parent.parent
#: Where the server says a code: ``code="x"``, ``status, code = 401, "x"``, a class's
#: ``code = "x"``, ``ErrorBody("x", …)``, ``_send_error(send, 429, "x", …)``, ``_raw(…, "x", …)``.
SENT = [
    re.compile(r'\bcode\s*=\s*"([a-z_]+)"'),
    re.compile(r'status, code = \d+, "([a-z_]+)"'),
    re.compile(r'ErrorBody\(\s*"([a-z_]+)"'),
    re.compile(r'_send_error\(send, \d+, "([a-z_]+)"'),
    re.compile(r'_raw\(\s*"[^"]*",\s*"([a-z_]+)"'),
]
CJK = re.compile(r"[\u4e00-\u9fff]")


def server_codes() -> set[str]:
    codes = set(_HTTP_CODES.values()) | set(_INVITE_ERRORS)
    for folder in ("server", "sync"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for pattern in SENT:
                codes.update(pattern.findall(text))
    return codes


def pwa_words(lang: str) -> dict[str, str]:
    """The PWA's table, read by node as the browser reads it (an ES module)."""
    script = (
        f"const m = await import('./pwa/js/i18n/errors.{lang}.js');"
        "process.stdout.write(JSON.stringify(m.default));"
    )
    out = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return json.loads(out.stdout)


def test_every_error_code_the_server_can_send_has_chinese_and_english_words() -> None:
    codes = server_codes()
    # The walk finds the codes people meet most: it cannot pass by finding nothing.
    assert {"login_failed", "invite_used", "forbidden", "rate_limited", "timeout"} <= codes
    zh, en = pwa_words("zh-CN"), pwa_words("en")
    assert not sorted(codes - set(zh)), "codes without zh-CN words in pwa/js/i18n/errors.zh-CN.js"
    assert not sorted(codes - set(en)), "codes without English words in pwa/js/i18n/errors.en.js"
    assert set(zh) == set(en)
    assert "generic" in zh and "network" in zh  # the fallback and the client's own
    assert not [k for k, v in zh.items() if not CJK.search(v)], "zh-CN words must be Chinese"
    assert not [k for k, v in en.items() if CJK.search(v)], "English words must be English"
