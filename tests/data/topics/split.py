"""The one split of the labelled topic data into ``dev.jsonl`` (tune on it) and ``test.jsonl`` (never tuned on).

Run from the repository root::

    python tests/data/topics/split.py            # reproduce: re-derive both files from their own rows
    python tests/data/topics/split.py --check    # exit 1 if the files are not exactly what the rule gives
    python tests/data/topics/split.py --add FILE [--dev]   # add new labelled rows, deduplicated

Running it again on the same rows reproduces the same two files byte for byte: nothing here depends on the clock,
the order of the rows or the machine. Each row gets a stable ``id`` (the first 12 hex digits of the SHA-1 of its
normalised title when it is first added; kept from then on, even if the title is later corrected), and its side is
decided by that id alone: the row goes to ``test`` when
``SHA-256("issue-13 split, seed 13|" + id)`` read as a fraction of 2**32 is below 0.40, else to ``dev``. Because the
decision is per row, adding rows later never moves an existing row from one side to the other, so ``test`` stays
unseen. Rows someone has already looked at while tuning (for example the verdicts ``export-labels`` writes, or
cases added to fix a rule) must go in with ``--dev``; they are marked ``"split": "dev-forced"`` and stay in ``dev``.

The hash is uniform over the ids, so each label pattern lands about 60/40; ``stratification()`` prints the counts and
``check_strata`` fails the run if a topic lacks positives on either side.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEV = HERE / "dev.jsonl"
TEST = HERE / "test.jsonl"
SEED = "issue-13 split, seed 13"
TEST_FRACTION = 0.40
TOPICS = ("car-t-ms", "car-t-autoimmune", "ms-research")
MIN_POSITIVES = 10  # per topic and side


def normalise(title: str) -> str:
    return re.sub(r"\W+", " ", unicodedata.normalize("NFKC", title).casefold()).strip()


def stable_id(title: str) -> str:
    return hashlib.sha1(normalise(title).encode("utf-8")).hexdigest()[:12]


def side(row_id: str) -> str:
    digest = hashlib.sha256(f"{SEED}|{row_id}".encode()).digest()
    return "test" if int.from_bytes(digest[:4], "big") / 2**32 < TEST_FRACTION else "dev"


def read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def assign(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """Deduplicate by id and by normalised title (first row wins) and split; both outputs are sorted by id."""
    seen: dict[str, dict] = {}
    titles: set[str] = set()
    for row in rows:
        row = dict(row)
        row.setdefault("id", stable_id(row["title"]))
        if row["id"] in seen or normalise(row["title"]) in titles:
            continue
        seen[row["id"]] = row
        titles.add(normalise(row["title"]))
    dev, test = [], []
    for row_id in sorted(seen):
        row = seen[row_id]
        (dev if row.get("split") == "dev-forced" or side(row_id) == "dev" else test).append(row)
    return dev, test


def dumps(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)


def stratification(dev: list[dict], test: list[dict]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for name, rows in (("dev", dev), ("test", test)):
        out[name] = {"rows": len(rows)} | {t: sum(r["labels"][t] for r in rows) for t in TOPICS}
    return out


def check_strata(dev: list[dict], test: list[dict]) -> None:
    counts = stratification(dev, test)
    for name in ("dev", "test"):
        for topic in TOPICS:
            if counts[name][topic] < MIN_POSITIVES:
                raise SystemExit(f"{name} has only {counts[name][topic]} positives for {topic}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if dev/test differ from the rule")
    parser.add_argument("--add", type=Path, help="JSON Lines file of new labelled rows")
    parser.add_argument("--dev", action="store_true", help="with --add: rows already seen while tuning, keep in dev")
    args = parser.parse_args(argv)
    rows = read(DEV) + read(TEST)
    if args.add:
        new = read(args.add)
        if args.dev:
            new = [r | {"split": "dev-forced"} for r in new]
        # A page read twice must not land on both sides under two titles (a first sentence one time, a heading the
        # next): new rows whose url is already in the data are dropped too, counted but not shown.
        known = {r["url"] for r in rows if r.get("url")}
        fresh = [r for r in new if not r.get("url") or r["url"] not in known]
        if len(fresh) < len(new):
            print(f"{len(new) - len(fresh)} new rows dropped: their url is already in dev or test")
        rows += fresh
    dev, test = assign(rows)
    check_strata(dev, test)
    if args.check:
        ok = DEV.read_text(encoding="utf-8") == dumps(dev) and TEST.read_text(encoding="utf-8") == dumps(test)
        print("split reproduces" if ok else "split differs from the rule: run tests/data/topics/split.py")
        return 0 if ok else 1
    DEV.write_text(dumps(dev), encoding="utf-8")
    TEST.write_text(dumps(test), encoding="utf-8")
    print(json.dumps(stratification(dev, test)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
