"""Command-line arguments of ``s2ld annotate`` and ``s2ld demo``, kept free of Gradio so that building
the ``s2ld`` parser (every command's start-up) never pays for importing the web stack."""

from __future__ import annotations

import argparse

from s2ld_core.schemas import SCHEMAS

from .pictures import MAX_ZOOM, MIN_ZOOM

DEFAULT_ZOOM = 12


def _add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: localhost)")
    parser.add_argument("--port", type=int, default=None, help="port (default: first free from 7860)")
    parser.add_argument("--auth", default=None, metavar="USER:PASS",
                        help="require this login (visible to other users in `ps`: prefer --auth-file or "
                             "the S2LD_AUTH environment variable)")
    parser.add_argument("--auth-file", default=None, metavar="FILE",
                        help="require the login USER:PASS written on the first line of FILE")
    parser.add_argument("--checkpoint", default=None, help="S²LD checkpoint (pre-placed points, demo)")
    parser.add_argument("--baseline-checkpoint", default=None,
                        help="HR-LD checkpoint for the demo's baseline (default: hrld.pt next to it)")
    parser.add_argument("--device", default="cpu", help="torch device for the models")


def add_annotate_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``s2ld annotate``."""
    parser.add_argument("folder", nargs="?", default=None, help="folder of face images to annotate")
    parser.add_argument("--schema", default="five", choices=sorted(SCHEMAS), help="landmark schema")
    parser.add_argument("--annotator", default=None, help="your name; names the file annotations/<name>.json")
    parser.add_argument("--out", default=None,
                        help="annotation file (default: <folder>/annotations/<annotator>.json)")
    parser.add_argument("--root", default=None, help="folders the UI may open must be under this")
    parser.add_argument("--order", default="file", choices=["file", "confidence"],
                        help="queue order; 'confidence' = least confident model prediction first")
    parser.add_argument("--zoom", type=int, default=DEFAULT_ZOOM, help=f"initial zoom {MIN_ZOOM}-{MAX_ZOOM}")
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
    return parser
