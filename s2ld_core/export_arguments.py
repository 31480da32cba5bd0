"""Arguments of ``s2ld export``, kept free of torch so building the ``s2ld`` parser stays instant."""

from __future__ import annotations

import argparse


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``s2ld export``: a G2 checkpoint to an ONNX file (optionally int8)."""
    parser.add_argument("checkpoint", help="G2 checkpoint (.pt) from stage 2 (S1–S4 or HR-LD)")
    parser.add_argument("--onnx", required=True, metavar="OUT", help="ONNX file to write")
    parser.add_argument("--int8", action="store_true",
                        help="static int8 quantisation (ONNX Runtime), calibrated on --calibration")
    parser.add_argument("--calibration", default="lfw", metavar="SOURCE",
                        help="LR faces for int8 calibration: 'lfw' (embedded) or a folder of crops")
    parser.add_argument("--static-batch", action="store_true", help="fix the batch dimension to 1")
    parser.add_argument("--opset", type=int, default=17)
