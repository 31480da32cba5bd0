"""Fuzz every data-set and annotation reader: truncated, binary, huge and mislabelled inputs.

    python benchmarks/fuzz_readers.py [--out reports/fuzz_readers.json] [--seed 0]

Each reader of :mod:`s2ld_core.data.formats` gets its valid fixture, then deterministic corruptions
of it (truncations, random bytes, byte flips, NULs, other encodings, multi-megabyte files, huge and
non-finite numbers, deep nesting, dropped and repeated lines, every other reader's file under its
name, a folder or nothing at its path); the TinyFace reader, which reads a folder tree, gets broken
trees. Every call is classified:

* **accepted** -- the reader returned (the input was still valid, e.g. CRLF line ends);
* **one-line error** -- a ``ValueError`` (readers raise :class:`FormatError`) or ``OSError`` whose
  message is one line naming the input;
* **unclear error** -- the right type, but several lines or no file name;
* **traceback** -- any other exception (``KeyError``, ``RecursionError`` …): a bug.

Before and after every call the working folder is fingerprinted (sizes, times, hashes): a reader
must never write, so **files changed** must be 0. The script prints a table, writes JSON, and exits
1 if any input gave a traceback, an unclear error or a changed file. ``run_fuzz`` is what the test
suite calls.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "formats"
_TEST_FOLDERS = ("Probe", "Gallery_Match", "Gallery_Distractor")
HUGE_BYTES = 4 * 2**20  # "huge" inputs are 4 MiB: big enough to find quadratic or unbounded reads

__all__ = ["Outcome", "run_fuzz", "summarise", "table", "main"]


@dataclass
class Outcome:
    reader: str
    case: str
    result: str  # accepted | error | unclear | traceback
    message: str = ""
    changed: list[str] = field(default_factory=list)
    seconds: float = 0.0


# --------------------------------------------------------------------------------------------------
# Readers and their valid inputs
# --------------------------------------------------------------------------------------------------


def _imglab_seed() -> bytes:
    parts = "".join(f"<part name='{i:02d}' x='{10 + i % 9}' y='{12 + i // 9}'/>" for i in range(68))
    return (
        "<?xml version='1.0' encoding='ISO-8859-1'?>\n<dataset><name>faces</name><images>\n"
        f"<image file='a.jpg'><box top='5' left='6' width='40' height='41'>{parts}</box></image>\n"
        "<image file='b.jpg'><box top='1' left='2' width='3' height='4' ignore='1'/></image>\n"
        "</images></dataset>\n"
    ).encode()


def _png_seed() -> bytes:
    ok, data = cv2.imencode(".png", np.random.default_rng(0).integers(0, 255, (24, 20, 3), dtype=np.uint8))
    assert ok
    return data.tobytes()


def _file_readers() -> dict[str, tuple[Callable[[Path], object], str, bytes]]:
    """name -> (read(path), file suffix, valid content)."""
    from s2ld_core.data.formats import (
        load_rgb,
        read_aflw_csv,
        read_annotations,
        read_coco_keypoints,
        read_pts,
        read_wider_bbx,
    )
    from s2ld_core.data.formats.imglab import read_imglab_xml

    return {
        "pts": (read_pts, ".pts", (FIXTURES / "face68.pts").read_bytes()),
        "aflw-csv": (read_aflw_csv, ".csv", (FIXTURES / "aflw_two_rows.csv").read_bytes()),
        "wider-bbx": (read_wider_bbx, ".txt", (FIXTURES / "wider_face_val_bbx_gt.txt").read_bytes()),
        "coco": (lambda p: read_coco_keypoints(p, "five"), ".json",
                 (FIXTURES / "coco_five.json").read_bytes()),
        "annotation-json": (read_annotations, ".json", (FIXTURES / "annotations_five.json").read_bytes()),
        "imglab-xml": (read_imglab_xml, ".xml", _imglab_seed()),
        "wider-image": (load_rgb, ".png", _png_seed()),
    }


# --------------------------------------------------------------------------------------------------
# Corruptions of one file
# --------------------------------------------------------------------------------------------------


def _lines_edit(seed: bytes, rng: np.random.Generator, how: str) -> bytes:
    lines = seed.splitlines(keepends=True)
    if len(lines) < 2:
        return seed + seed
    i = int(rng.integers(0, len(lines)))
    if how == "drop":
        del lines[i]
    else:
        lines.insert(i, lines[i])
    return b"".join(lines)


def _flips(seed: bytes, rng: np.random.Generator, n: int = 8) -> bytes:
    data = bytearray(seed)
    for pos in rng.integers(0, len(data), n):
        data[int(pos)] = int(rng.integers(0, 256))
    return bytes(data)


def _numbers(seed: bytes, replacement: bytes) -> bytes:
    return re.sub(rb"(?<![A-Za-z_])\d+(\.\d+)?", replacement, seed)


def corruptions(
    seed: bytes, others: dict[str, bytes], rng: np.random.Generator
) -> Iterator[tuple[str, bytes]]:
    """``(case name, content)`` pairs derived from a valid file ``seed``."""
    yield "valid", seed
    yield "empty", b""
    for frac in (0.1, 0.25, 0.5, 0.75, 0.9):
        yield f"truncated at {int(frac * 100)} %", seed[: int(len(seed) * frac)]
    yield "last byte cut", seed[:-1]
    for n in (1, 17, 4096):
        yield f"random {n} bytes", rng.bytes(n)
    for k in range(6):
        yield f"8 bytes flipped #{k + 1}", _flips(seed, rng)
    yield "NUL bytes inside", seed[: len(seed) // 2] + b"\0" * 64 + seed[len(seed) // 2:]
    yield "latin-1 bytes", seed.replace(b"a", b"\xe9", 3) + b"\xff\xfe"
    yield "UTF-16", seed.decode("utf-8", "replace").encode("utf-16")
    yield "UTF-8 BOM", b"\xef\xbb\xbf" + seed
    yield "CRLF line ends", seed.replace(b"\n", b"\r\n")
    yield "no final newline", seed.rstrip(b"\n")
    yield "huge: valid content repeated to 4 MiB", seed * (HUGE_BYTES // max(1, len(seed)))
    yield "huge: one 4 MiB line of digits", b"9" * HUGE_BYTES
    yield "huge: 4 MiB of newlines", b"\n" * HUGE_BYTES
    yield "huge: numbers 1e999", _numbers(seed, b"1e999")
    yield "huge: 400-digit integers", _numbers(seed, b"9" * 400)
    yield "numbers made nan", _numbers(seed, b"nan")
    yield "numbers made negative", _numbers(seed, b"-7")
    yield "numbers made words", _numbers(seed, b"x")
    yield "deep nesting [[[…]]]", b"[" * 100_000 + b"]" * 100_000
    yield 'deep nesting {"a":…}', b'{"a":' * 50_000 + b"1" + b"}" * 50_000
    yield "XML entity expansion", (
        b"<?xml version='1.0'?><!DOCTYPE d [<!ENTITY a '" + b"x" * 100 + b"'>"
        + b"".join(b"<!ENTITY %c '" % (98 + i) + b"&%c;" % (97 + i) * 8 + b"'>" for i in range(8))
        + b"]><dataset><images>&i;</images></dataset>"
    )
    for k in range(3):
        yield f"a line dropped #{k + 1}", _lines_edit(seed, rng, "drop")
        yield f"a line repeated #{k + 1}", _lines_edit(seed, rng, "repeat")
    for name, other in others.items():
        yield f"mislabelled: a {name} file", other


# --------------------------------------------------------------------------------------------------
# Running and classifying
# --------------------------------------------------------------------------------------------------


def _fingerprint(folder: Path) -> dict[str, tuple[int, int, str]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            p = Path(dirpath) / name
            try:
                st = p.lstat()
            except OSError:
                continue
            digest = ""
            if p.is_file() and not p.is_symlink():
                digest = hashlib.sha1(p.read_bytes()).hexdigest()
            out[str(p.relative_to(folder))] = (st.st_size, st.st_mtime_ns, digest)
    return out


def _classify(read: Callable[[Path], object], target: Path) -> tuple[str, str]:
    try:
        read(target)
    except (ValueError, OSError) as err:
        message = str(err)
        clear = "\n" not in message and (str(target) in message or target.name in message)
        return ("error" if clear else "unclear"), message
    except BaseException as err:  # noqa: BLE001 - anything else is a bug, which this pass exists to find
        if isinstance(err, KeyboardInterrupt):
            raise
        return "traceback", f"{type(err).__name__}: {err}"[:500]
    return "accepted", ""


def _run_one(
    reader: str, case: str, read: Callable[[Path], object], target: Path, work: Path
) -> Outcome:
    before = _fingerprint(work)
    t0 = time.perf_counter()
    result, message = _classify(read, target)
    seconds = time.perf_counter() - t0
    after = _fingerprint(work)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return Outcome(reader, case, result, " ".join(message.split())[:300], changed, round(seconds, 4))


def _fuzz_files(work: Path, rng: np.random.Generator) -> Iterator[Outcome]:
    readers = _file_readers()
    seeds = {name: seed for name, (_, _, seed) in readers.items()}
    for name, (read, suffix, seed) in readers.items():
        folder = work / name
        folder.mkdir()
        others = {k: v for k, v in seeds.items() if k != name}
        for i, (case, content) in enumerate(corruptions(seed, others, rng)):
            target = folder / f"input_{i:03d}{suffix}"
            target.write_bytes(content)
            yield _run_one(name, case, read, target, work)
            target.unlink()
        missing = folder / f"missing{suffix}"
        yield _run_one(name, "no file at the path", read, missing, work)
        a_dir = folder / f"a_folder{suffix}"
        a_dir.mkdir()
        yield _run_one(name, "a folder at the path", read, a_dir, work)
        a_dir.rmdir()


def _tinyface_tree(root: Path) -> Path:
    for sub in ("Training_Set/1", *(f"Testing_Set/{t}" for t in _TEST_FOLDERS)):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "Training_Set/1/1_1.jpg").write_bytes(_png_seed())
    (root / "Testing_Set/Probe/1_2.jpg").write_bytes(_png_seed())
    (root / "Testing_Set/Gallery_Match/1_3.jpg").write_bytes(_png_seed())
    (root / "Testing_Set/Gallery_Distractor/x.jpg").write_bytes(_png_seed())
    return root


def _tinyface_cases(rng: np.random.Generator) -> Iterator[tuple[str, Callable[[Path], Path]]]:
    """``(case, build(folder) -> path to read)``; each builds a (broken) tree under ``folder``."""

    def valid(d):
        return _tinyface_tree(d / "tf")

    def drop(sub):
        def build(d):
            root = _tinyface_tree(d / "tf")
            shutil.rmtree(root / sub)
            return root
        return build

    def file_instead(sub):
        def build(d):
            root = _tinyface_tree(d / "tf")
            shutil.rmtree(root / sub)
            (root / sub).write_bytes(rng.bytes(64))
            return root
        return build

    def add(rel, content=b"junk"):
        def build(d):
            root = _tinyface_tree(d / "tf")
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(content)
            return root
        return build

    def empty_training(d):
        root = _tinyface_tree(d / "tf")
        shutil.rmtree(root / "Training_Set/1")
        return root

    def huge(d):
        root = _tinyface_tree(d / "tf")
        for i in range(3000):
            (root / "Training_Set/1" / f"1_{i + 10}.jpg").write_bytes(b"")
        return root

    def loop(d):
        root = _tinyface_tree(d / "tf")
        os.symlink(root / "Training_Set", root / "Training_Set/loop")
        return root

    def wider_tree(d):
        root = d / "wider"
        (root / "0--Parade").mkdir(parents=True)
        (root / "0--Parade/0_Parade_1.jpg").write_bytes(_png_seed())
        shutil.copy(FIXTURES / "wider_face_val_bbx_gt.txt", root)
        return root

    def a_file(d):
        (d / "tf.jpg").write_bytes(_png_seed())
        return d / "tf.jpg"

    yield "valid", valid
    yield "nothing at the path", lambda d: d / "none"
    yield "a file at the path", a_file
    yield "empty folder", lambda d: (d / "tf").mkdir() or d / "tf"
    for sub in ("Training_Set", *(f"Testing_Set/{t}" for t in _TEST_FOLDERS)):
        yield f"mislabelled: {sub} missing", drop(sub)
        yield f"mislabelled: {sub} is a file", file_instead(sub)
    yield "probe without identity prefix", add("Testing_Set/Probe/noprefix.jpg")
    yield "gallery name starting with _", add("Testing_Set/Gallery_Match/_3.jpg")
    yield "loose training image without prefix", add("Training_Set/loose.png")
    yield "binary junk named .jpg", add("Training_Set/1/1_9.jpg", rng.bytes(300))
    yield "non-UTF-8 file name", add(os.fsdecode(b"Training_Set/1/1_\xff\xfe.jpg"))
    yield "hidden files", add("Testing_Set/Probe/.DS_Store")
    yield "no training images", empty_training
    yield "huge: 3000 training files", huge
    yield "symlink loop in Training_Set", loop
    yield "mislabelled: a WIDER FACE tree", wider_tree


def _fuzz_tinyface(work: Path, rng: np.random.Generator) -> Iterator[Outcome]:
    from s2ld_core.data.formats import read_tinyface

    for i, (case, build) in enumerate(_tinyface_cases(rng)):
        folder = work / "tinyface" / f"case_{i:02d}"
        folder.mkdir(parents=True)
        target = build(folder)
        yield _run_one("tinyface", case, read_tinyface, target, work)
        shutil.rmtree(folder)


def run_fuzz(work: str | os.PathLike[str], seed: int = 0) -> list[Outcome]:
    """Every reader against every corruption, inside ``work`` (an empty folder)."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    return [*_fuzz_files(work, rng), *_fuzz_tinyface(work, rng)]


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------

COLUMNS = ("inputs", "accepted", "one-line errors", "unclear errors", "tracebacks", "files changed")


def summarise(outcomes: list[Outcome]) -> dict[str, dict[str, int]]:
    """Counts per reader (and ``all``) in the order of :data:`COLUMNS`."""
    rows: dict[str, dict[str, int]] = {}
    for o in outcomes:
        for key in (o.reader, "all"):
            row = rows.setdefault(key, dict.fromkeys(COLUMNS, 0))
            row["inputs"] += 1
            row[{"accepted": "accepted", "error": "one-line errors", "unclear": "unclear errors",
                 "traceback": "tracebacks"}[o.result]] += 1
            row["files changed"] += bool(o.changed)
    rows["all"] = rows.pop("all", dict.fromkeys(COLUMNS, 0))
    return rows


def table(rows: dict[str, dict[str, int]]) -> str:
    """A markdown table of :func:`summarise`."""
    lines = ["| reader | " + " | ".join(COLUMNS) + " |", "|---|" + "---:|" * len(COLUMNS)]
    for name, row in rows.items():
        label = f"**{name}**" if name == "all" else name
        lines.append(f"| {label} | " + " | ".join(str(row[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="reports/fuzz_readers.json", help="JSON with every input's outcome")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="s2ld-fuzz-") as tmp:
        outcomes = run_fuzz(tmp, args.seed)
    rows = summarise(outcomes)
    print(table(rows))
    bad = [o for o in outcomes if o.result in ("unclear", "traceback") or o.changed]
    for o in bad:
        print(f"  {o.reader} / {o.case}: {o.result} {o.message} {o.changed or ''}")
    print(f"{len(outcomes)} inputs in {time.perf_counter() - t0:.1f} s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"seed": args.seed, "summary": rows, "outcomes": [asdict(o) for o in outcomes]},
                              indent=1) + "\n")
    print(f"wrote {out}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
