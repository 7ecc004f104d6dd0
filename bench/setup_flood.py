"""Wrong setup links from many addresses (attack on #19's ``POST /api/v1/setup``).

The setup page is public: anyone may post a code, a login and a password. One real
server; ``--n`` wrong codes at once, each from its own address (``X-Forwarded-For``, as
the proxy forwards them; each address stays under its 10 wrong codes per 10 minutes),
against the same number of wrong invite codes at ``/api/v1/enroll`` (no password there):
the baseline, measured in the same run. Prints the time of each burst, their ratio, and
the server process's peak memory after each. Loopback only, bounded.
Run: .venv/bin/python bench/setup_flood.py [--n 60]
"""

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from conftest import LiveServer  # noqa: E402


def peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def burst(url: str, path: str, n: int, first: int) -> tuple[float, dict[int, int]]:
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        body = {"code": "ABCD-EFGH", "login": "x", "password": "a long enough one"}
        if path.endswith("enroll"):
            body = {"code": "ABCD-EFGH"}
        start = time.perf_counter()
        answers = await asyncio.gather(
            *(
                client.post(
                    path, json=body, headers={"X-Forwarded-For": f"10.9.{i // 250}.{i % 250}"}
                )
                for i in range(first, first + n)
            )
        )
        took = time.perf_counter() - start
    counts: dict[int, int] = {}
    for r in answers:
        counts[r.status_code] = counts.get(r.status_code, 0) + 1
    return took, counts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=60)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = LiveServer(str(Path(tmp) / "flood.db")).start()
        try:
            assert server.proc is not None
            base, base_codes = asyncio.run(burst(server.url, "/api/v1/enroll", args.n, 0))
            base_mem = peak_mib(server.proc.pid)
            took, codes = asyncio.run(burst(server.url, "/api/v1/setup", args.n, args.n))
            mem = peak_mib(server.proc.pid)
        finally:
            server.stop()
    peak = f"peak {base_mem:.0f} MiB"
    print(f"{args.n} wrong invite codes (baseline): {base:.2f} s {base_codes}, {peak}")
    print(f"{args.n} wrong setup codes: {took:.2f} s {codes}, peak {mem:.0f} MiB")
    print(f"ratio setup/baseline: {took / base:.1f}x")


if __name__ == "__main__":
    main()
