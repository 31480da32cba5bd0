"""Command-line arguments of ``s2ld annotate`` and ``s2ld demo``, kept free of Gradio so that building
the ``s2ld`` parser (every command's start-up) never pays for importing the web stack."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from s2ld_core.schemas import SCHEMAS

DEFAULT_ZOOM = "fit"
MIN_ZOOM, MAX_ZOOM = 1, 64


def parse_zoom(value: str | int | None) -> str | int:
    """``"fit"`` (the canvas fills the viewport) or a whole magnification 1-64 (screen pixels per
    image pixel); anything else is one line naming ``--zoom``."""
    if value is None or str(value).strip().lower() == "fit":
        return "fit"
    try:
        z = int(str(value).strip())
    except ValueError:
        raise ValueError(f"--zoom {value!r}: use 'fit' or a whole number {MIN_ZOOM}-{MAX_ZOOM}") from None
    if not MIN_ZOOM <= z <= MAX_ZOOM:
        raise ValueError(f"--zoom {value}: choose 'fit' or {MIN_ZOOM}-{MAX_ZOOM}")
    return z


SCHEMA_HELP = (f"landmark schema: {', '.join(sorted(SCHEMAS))}, or a schema file (.yaml/.json) with your own "
               "point names (docs/annotator.md)")


def _add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: localhost)")
    parser.add_argument("--port", type=int, default=None, help="port (default: first free from 7860)")
    parser.add_argument("--auth", default=None, metavar="USER:PASS",
                        help="require this login (visible to other users in `ps`: prefer --auth-file or "
                             "the S2LD_AUTH environment variable)")
    parser.add_argument("--auth-file", default=None, metavar="FILE",
                        help="require the login USER:PASS written on the first line of FILE")
    parser.add_argument("--checkpoint", default=None,
                        help="landmark checkpoint (pre-placed points; the demo's model; default: shipped)")
    parser.add_argument("--baseline-checkpoint", default=None,
                        help="HR-LD checkpoint for the demo's baseline (default: hrld.pt next to it)")
    parser.add_argument("--device", default="cpu", help="torch device for the models")


def add_annotate_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``s2ld annotate``."""
    parser.add_argument("folder", nargs="?", default=None, help="folder of face images to annotate")
    parser.add_argument("--schema", default="five", help=SCHEMA_HELP)
    parser.add_argument("--annotator", default=None, help="your name; names the file annotations/<name>.json")
    parser.add_argument("--out", default=None,
                        help="annotation file (default: <folder>/annotations/<annotator>.json)")
    parser.add_argument("--root", default=None, help="folders the UI may open must be under this")
    parser.add_argument("--order", default="file", choices=["file", "confidence"],
                        help="queue order; 'confidence' = least confident model prediction first")
    parser.add_argument("--zoom", default=DEFAULT_ZOOM,
                        help=f"initial magnification: 'fit' (default) or {MIN_ZOOM}-{MAX_ZOOM}")
    parser.add_argument("--import", dest="import_files", nargs="+", default=None, metavar="FILE",
                        help="pre-place points from existing annotations (COCO or project .json, imglab "
                             ".xml, 300W .pts) on untouched images, then serve")
    parser.add_argument("--export-coco", default=None, metavar="PATH",
                        help="write COCO keypoints of the done images and exit (no server)")
    parser.add_argument("--export-pts", default=None, metavar="DIR",
                        help="write 300W .pts files of the done images and exit (no server)")
    _add_server_arguments(parser)
    return parser


def add_demo_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``s2ld demo``."""
    _add_server_arguments(parser)
    parser.add_argument("--examples-dir", default=None, help="where the bundled example photos are written")
    parser.add_argument("--annotate", default=None, metavar="DIR",
                        help="also serve an Annotate tab for this folder (and only it)")
    parser.add_argument("--schema", default="five", help=SCHEMA_HELP + "; with --annotate")
    return parser


# ----------------------------------------------------------------------------- s2ld commands


def _check_app_paths(args: argparse.Namespace) -> None:
    """The paths ``annotate`` and ``demo`` name, checked before Gradio and torch are imported (those
    take seconds; a typo should answer at once). The app checks the rest (images, files) itself."""
    folder = getattr(args, "folder", None)
    if folder and not Path(folder).expanduser().is_dir():
        raise ValueError(f"{folder}: not a folder")
    root = getattr(args, "root", None)
    if root and not Path(root).expanduser().is_dir():
        raise ValueError(f"{root}: --root is not a folder")
    for option in ("checkpoint", "baseline_checkpoint"):
        value = getattr(args, option, None)
        if value and not Path(value).expanduser().is_file():
            raise ValueError(f"{value}: checkpoint not found (--{option.replace('_', '-')})")
    examples = getattr(args, "examples_dir", None)
    if examples and Path(examples).expanduser().exists() and not Path(examples).expanduser().is_dir():
        raise ValueError(f"{examples}: --examples-dir is a file, not a folder")


def cmd_annotate(args: argparse.Namespace) -> None:
    _check_app_paths(args)
    from .app import main_annotate

    main_annotate(args)


def cmd_demo(args: argparse.Namespace) -> None:
    _check_app_paths(args)
    from .app import main_demo

    main_demo(args)


def cmd_agreement(args: argparse.Namespace) -> None:
    from .agreement import agreement_report

    report = agreement_report(args.files, args.out)
    print(json.dumps(report.get("summary", report), indent=2, default=str))


def register_commands(sub) -> None:
    """``s2ld annotate``, ``s2ld demo`` and ``s2ld agreement`` (the ``s2ld.commands`` entry point)."""
    p = sub.add_parser("annotate", help="annotation tool for landmarks on tiny faces (Gradio)")
    add_annotate_arguments(p)
    p.set_defaults(func=cmd_annotate)
    p = sub.add_parser("demo", help="live demo: detect faces, S²LD landmarks beside the baseline (Gradio)")
    add_demo_arguments(p)
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("agreement", help="inter-annotator NME report from several annotation files")
    p.add_argument("files", nargs="+", help="annotation JSON files of the same images, one per annotator")
    p.add_argument("--out", required=True, help="folder for agreement.json and agreement.md")
    p.set_defaults(func=cmd_agreement)
