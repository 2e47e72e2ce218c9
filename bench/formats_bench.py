"""Item exchange formats benchmark (issue 7). Run: .venv/bin/python -m bench.formats_bench [--items N]

Generates a QTI 3.0 content package of 10,000 items of mixed types (single/multiple choice with weights,
true/false, numerical with tolerance, fill-in-the-blank with text and inline-choice gaps, matching, ordering,
short answer, essay; one item in twenty carries a PNG image and one in ten a MathML formula), then times
`read_items` on it: the whole import, from zip bytes to checked drafts, must take under 30 s.
Synthetic seeded items (no real exchange package ships with the project); wall-clock on this machine.
"""

from __future__ import annotations

import argparse
import random
import struct
import time
import zlib
from collections import Counter

from itembank.formats.detect import read_items, write_items
from itembank.formats.model import Asset, ItemDraft

LIMIT_SECONDS = 30.0


def _png(seed: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes((seed * 7 + x) % 256 for x in range(48)) for _ in range(16))
    header = struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def make_drafts(n: int, seed: int = 7) -> list[ItemDraft]:
    """n items cycling through every canonical type, with seeded content."""
    rng = random.Random(seed)
    out: list[ItemDraft] = []
    for i in range(n):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        stem = f"<p>Item {i}: what is {a} + {b}? 第{i}题</p>"
        if i % 10 == 3:
            stem += "<p><math><mi>x</mi><mo>=</mo><mfrac><mn>1</mn><mn>2</mn></mfrac></math></p>"
        assets = {}
        if i % 20 == 0:
            stem += f'<p><img src="asset:fig{i}.png" alt="figure"></p>'
            assets[f"fig{i}.png"] = Asset(_png(i), "image/png")
        opts = [{"key": k, "text": str(a + b + d)} for k, d in zip("ABCD", (0, 1, -1, 2), strict=True)]
        kind = i % 9
        common = {"source_id": f"it{i:05d}", "stem": stem, "assets": assets, "points": float(1 + i % 3)}
        if kind == 0:
            d = ItemDraft(type="single_choice", options=opts, key="A", explanation=f"{a}+{b}={a + b}", **common)
        elif kind == 1:
            d = ItemDraft(
                type="multiple_choice",
                options=opts,
                key=["A", "C"],
                settings={"scoring": "weights", "weights": {"A": 0.5, "B": -0.5, "C": 0.5, "D": -0.5}},
                **common,
            )
        elif kind == 2:
            d = ItemDraft(type="true_false", key=bool(i % 2), **common)
        elif kind == 3:
            d = ItemDraft(type="numerical", key={"value": float(a + b), "tolerance": 0.5, "units": []}, **common)
        elif kind == 4:
            d = ItemDraft(
                type="fill_blank",
                stem=f"{a} + {b} = ____, and the sky is ____.",
                key=[
                    {"accepted": [str(a + b)], "numeric": True, "tolerance": 0},
                    {"accepted": ["blue"], "numeric": False, "tolerance": 0, "choices": ["blue", "green", "red"]},
                ],
                settings={"case_sensitive": False, "order_free": False},
                **{k: v for k, v in common.items() if k != "stem"},
            )
        elif kind == 5:
            left = [{"key": str(n + 1), "text": f"L{n}-{i}", "side": "left"} for n in range(3)]
            right = [{"key": "abc"[n], "text": f"R{n}-{i}", "side": "right"} for n in range(3)]
            d = ItemDraft(type="matching", options=left + right, key={"1": "b", "2": "c", "3": "a"}, **common)
        elif kind == 6:
            d = ItemDraft(type="ordering", options=opts, key=["C", "A", "D", "B"], **common)
        elif kind == 7:
            d = ItemDraft(type="short_answer", key={"reference": f"{a + b}"}, **common)
        else:
            d = ItemDraft(type="essay", **common)
        out.append(d)
    return out


def main() -> None:
    """Build the package, time the import, print the figures and the ratio to the 30 s limit."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args()
    t0 = time.perf_counter()
    drafts = make_drafts(args.items)
    package = write_items("qti30", drafts)
    t1 = time.perf_counter()
    result = read_items("bench.zip", package)
    t2 = time.perf_counter()
    parse = t2 - t1
    print(
        f"QTI 3.0 package: {args.items} items, {len(package) / 1e6:.1f} MB zipped; generated+written in {t1 - t0:.1f} s"
    )
    print(f"read_items: {len(result.drafts)} drafts, {len(result.rejected)} rejected, {len(result.warnings)} warnings")
    print("by type: " + ", ".join(f"{k}={v}" for k, v in sorted(Counter(d.type for d in result.drafts).items())))
    print(
        f"parse seconds: {parse:.2f} (limit {LIMIT_SECONDS:.0f} s, ratio {parse / LIMIT_SECONDS:.3f} of the limit, "
        f"{args.items / parse:,.0f} items/s)"
    )
    same = sum(
        1 for a, b in zip(drafts, result.drafts, strict=False) if (a.type, a.key, a.points) == (b.type, b.key, b.points)
    )
    print(f"round trip: {same}/{len(drafts)} items read back with the same type, key and points")
    database_seconds = import_into_database(package)
    print(
        f"whole import into a fresh SQLite bank (read, validate, insert items and versions, store media, commit): "
        f"{database_seconds:.2f} s (limit {LIMIT_SECONDS:.0f} s, ratio {database_seconds / LIMIT_SECONDS:.3f})"
    )
    if parse > LIMIT_SECONDS or database_seconds > LIMIT_SECONDS or result.rejected:
        raise SystemExit(1)


def import_into_database(package: bytes) -> float:
    """Seconds for exam's import service to take the package into a new bank, end to end."""
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
        os.environ["EXAM_STORAGE_DIR"] = f"{tmp}/storage"
        os.environ["EXAM_INSTANCE_DIR"] = tmp
        from exam.app import create_app
        from exam.auth.models import Role, User
        from exam.db import db
        from itembank.models import ItemBank, Subject
        from itembank.services import import_items

        app = create_app()
        with app.app_context():
            db.create_all()
            user = User(username="bench", display_name="Bench", role=Role.EXAMINER, password_hash="x")
            bank = ItemBank(name="Bench", subject=Subject(code="B", name_en="Bench", name_zh="测试"), owner=user)
            db.session.add_all([user, bank])
            db.session.commit()
            start = time.perf_counter()
            report = import_items(db.session, bank, user, "bench.zip", package, storage_dir=f"{tmp}/storage")
            db.session.commit()
            seconds = time.perf_counter() - start
            print(f"database import: {report['imported']} imported, {len(report['rejected'])} rejected")
            db.session.remove()
            db.engine.dispose()
        return seconds


if __name__ == "__main__":
    main()
