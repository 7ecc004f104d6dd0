"""The ledger import at scale: a 20,000-household 住户台账 (.xlsx), printed, no asserts.

Target: imported in ≤ 30 s on this machine (issue 19). Each phase runs in a process of
its own, so its peak RSS is its own:

* baseline: openpyxl merely reading every row of the file (read-only mode);
* dry run: read, place every row, compare with an empty database, write nothing;
* import: the same, written through the one write path (``changes.write_records``);
* re-import: the same file again, which compares everything and writes nothing.

Run: .venv/bin/python bench/ledger_import.py [--households 20000] [--db postgresql://…]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COMPOUNDS = [f"丽源路{n}号院" for n in range(50, 60)]
WORDS = ["", "", "", "", "独居老人", "空巢", "独居老人、空巢", "残疾", "婴幼儿", "低保"]


def make_ledger(path: Path, households: int) -> None:
    """One sheet per 院 with a title row, 8 buildings × 4 units × 6 floors × n doors."""
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    per = households // len(COMPOUNDS)
    for c, compound in enumerate(COMPOUNDS):
        ws = wb.create_sheet(compound)
        ws.append([f"精图社区住户台账（{compound}）"])
        ws.append(["楼号", "单元", "门牌号", "户主", "联系电话", "人口", "重点人群", "备注"])
        for i in range(per if c < len(COMPOUNDS) - 1 else households - per * c):
            building, rest = divmod(i, 250)
            unit, rest = divmod(rest, 60)
            floor, door = divmod(rest, 10)
            ws.append(
                [
                    f"{building + 1}号楼",
                    unit + 1,
                    f"{floor + 1}{door + 1:02d}",
                    f"住户{c}-{i}",
                    f"138 {c:04d} {i:04d}",
                    1 + i % 5,
                    WORDS[i % len(WORDS)],
                    "耳背" if i % 17 == 0 else "",
                ]
            )
    wb.save(path)


def phase(name: str, file: str, db: str) -> dict:
    start = time.perf_counter()
    if name == "baseline":
        import openpyxl

        wb = openpyxl.load_workbook(file, read_only=True, data_only=True)
        rows = sum(1 for ws in wb.worksheets for _ in ws.iter_rows(values_only=True))
        wb.close()
        out: dict = {"rows": rows}
    else:
        from server.ledger.command import run_import

        out = run_import(db, file, community="精图社区", dry_run=name == "dry run")
        out = {k: out[k] for k in ("added", "updated", "unchanged", "buildings")} | {
            "rejected": len(out["rejected"])
        }
    out["seconds"] = time.perf_counter() - start
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--households", type=int, default=20_000)
    ap.add_argument("--db", help="a PostgreSQL URL (an empty database); default a SQLite file")
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.file, args.db)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "台账.xlsx"
        make_ledger(file, args.households)
        db = args.db or str(Path(tmp) / "bench.db")
        print(f"ledger: {args.households} households, {file.stat().st_size / 1024:.0f} KB .xlsx")
        results = {}
        for name in ("baseline", "dry run", "import", "re-import"):
            done = subprocess.run(
                [sys.executable, __file__, "--phase", name, "--file", str(file), "--db", db],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            results[name] = r = json.loads(done.stdout)
            base = results["baseline"]
            t, m = r["seconds"], r["peak_rss_mb"]
            print(
                f"{name:10s} {t:6.2f} s ({t / base['seconds']:4.1f}× baseline)"
                f"  peak RSS {m:6.1f} MB ({m / base['peak_rss_mb']:4.1f}×)"
                f"  { ({k: v for k, v in r.items() if k not in ('seconds', 'peak_rss_mb')}) }"
            )
        verdict = "within" if results["import"]["seconds"] <= 30 else "OVER"
        print(f"import of {args.households} households: {verdict} the 30 s target")


if __name__ == "__main__":
    main()
