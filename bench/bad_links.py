"""Unknown resident links from one address vs. the valid link from it (#22 M2).

The issue's way: one real server; from one address, 20 requests for unknown ``/r/...``
links, then ``--valid`` requests for the valid link (page and data, alternating) from the
same address, as a neighbourhood behind one carrier NAT would. Prints how many of them
were answered 200 and how many 429. Loopback only, bounded.
Run: .venv/bin/python bench/bad_links.py [--valid 1000]
"""

import argparse
import asyncio
import collections
import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from conftest import LiveServer, load_demo  # noqa: E402

from server.ops.demo import HEATING  # noqa: E402


async def valid_requests(url: str, token: str, n: int) -> collections.Counter[str]:
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        paths = [f"/r/{token}", f"/api/v1/public/{token}"]
        answers = await asyncio.gather(*(client.get(paths[i % 2]) for i in range(n)))
    return collections.Counter(str(r.status_code) for r in answers)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--valid", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "links.db")
        load_demo(db)
        server = LiveServer(db).start()
        try:
            coord = server.enroll("coordinator", "主任")
            r = httpx.post(f"{server.url}/api/v1/incidents/{HEATING}/share", headers=coord.headers)
            token = r.json()["token"]
            bad = collections.Counter(
                str(httpx.get(f"{server.url}/r/{'x' * len(token)}").status_code) for _ in range(20)
            )
            good = asyncio.run(valid_requests(server.url, token, args.valid))
        finally:
            server.stop()
    print(f"20 unknown links from one address: {dict(sorted(bad.items()))}")
    print(f"then {args.valid} requests for the valid link from it: {dict(sorted(good.items()))}")


if __name__ == "__main__":
    main()
