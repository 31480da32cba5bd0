"""``s2ld bench``: the inference benchmark as a command of the ``s2ld`` CLI, added through the
``s2ld.commands`` entry point so that the core package never imports ``benchmarks``."""

from __future__ import annotations

import argparse


def cmd_bench(args: argparse.Namespace) -> None:
    from .bench_inference import main as bench_main

    bench_main(args.bench_args)


def register_commands(sub) -> None:
    """``s2ld bench`` (the ``s2ld.commands`` entry point)."""
    p = sub.add_parser("bench", help="inference benchmarks side by side with peer architectures")
    p.set_defaults(func=cmd_bench)
    p.add_argument("bench_args", nargs=argparse.REMAINDER, help="options of benchmarks/bench_inference.py")
