"""The ``s2ld`` command. Each subcommand imports what it needs only when it runs, so ``--help`` is
instant. User errors (bad files, bad values) end in one line, ``s2ld: error: …`` naming the file, and
exit code 2; inputs are checked before slow work or a server starts. ``s2ld --debug …`` shows the
traceback instead."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from .metrics import NORMALIZERS
from .schemas import SCHEMAS
from .shape_model import DECODINGS
from .train.config import PROFILES, SETTINGS

# ----------------------------------------------------------------------------- data


def cmd_data_preview(args: argparse.Namespace) -> None:
    from .atomic import check_writable
    from .data.preview import write_data_preview

    check_writable(args.out)  # before rendering the faces, not after
    path = write_data_preview(args.out, seed=args.seed, per_row=args.per_row)
    print(f"wrote {path}")


def cmd_data_export_lfw(args: argparse.Namespace) -> None:
    from .atomic import check_writable
    from .data.sources import export_lfw_pngs

    check_writable(args.out, folder=True)
    paths = export_lfw_pngs(args.out)
    print(f"wrote {len(paths)} real LR faces to {args.out}")


# ----------------------------------------------------------------------------- train


# command-line option → (section of TrainConfig, field); None is the top level
_TRAIN_OVERRIDES = {
    "seed": (None, "seed"), "device": (None, "device"), "max_steps": (None, "max_steps"),
    "threads": (None, "threads"), "checkpoint_every": (None, "checkpoint_every_steps"),
    "epochs": ("optim", "epochs"), "batch_size": ("optim", "batch_size"), "lr": ("optim", "lr"),
    "hr_data": ("data", "hr_data"), "target_lr": ("data", "target_lr"), "schema": ("data", "schema"),
}


def _train_config(args: argparse.Namespace, stage: str):
    """The profile's (or ``--config``'s) training configuration with the given options applied, and
    the warnings the run should carry (the schema taken from the data)."""
    from .config_files import with_settings
    from .train.config import TrainConfig, profile_config

    _check_train_paths(args)
    setting = getattr(args, "setting", None)  # stage 2: the setting's budget of the profile applies
    if args.config:
        cfg = _config_from_yaml(TrainConfig, args.config)
    else:
        cfg = profile_config(args.profile, stage, setting)
    cfg.stage = stage
    for option, (section, name) in _TRAIN_OVERRIDES.items():
        value = getattr(args, option, None)
        if value is not None:
            setattr(getattr(cfg, section) if section else cfg, name, value)
    cfg = with_settings(cfg, getattr(args, "set", None))
    return cfg, _schema_from_data(cfg, args)


def _schema_from_data(cfg, args: argparse.Namespace) -> list[str]:
    """Train in the schema the labelled faces are annotated in: taken from the data when neither
    ``--schema`` nor ``--config`` names one (a warning for ``summary.json``), refused in one line
    when the named one differs (a 68-point 300W folder trained as ``aflw19`` would quietly become a
    19-point model of approximated points)."""
    from .data.datasets import hr_data_schema

    found = hr_data_schema(cfg.data.hr_data)
    if found is None:
        return []
    schema, seen = found
    named = args.schema or (f"{cfg.data.schema} (data.schema of {args.config})" if args.config else None)
    if named is None:
        cfg.data.schema = schema
        return [f"schema {schema} inferred from --hr-data {cfg.data.hr_data} ({seen}); "
                f"pass --schema to name it"]
    if cfg.data.schema != schema:
        raise ValueError(
            f"--schema {named}: --hr-data {cfg.data.hr_data} holds {schema} points ({seen}); "
            f"leave --schema out to train {schema}, or convert the labels first"
        )
    return []


def _check_train_paths(args: argparse.Namespace) -> None:
    """Files named on the command line exist, checked before torch is imported."""
    if args.config and not Path(args.config).is_file():
        raise ValueError(f"{args.config}: no such config file")
    for option in ("g1", "vgg_weights"):
        value = getattr(args, option, None)
        if value and not Path(value).is_file():
            raise ValueError(f"{value}: no such file (--{option.replace('_', '-')})")
    for option in ("hr_data", "target_lr"):
        value = getattr(args, option, None)
        named = value and value.strip().lower() not in ("embedded", "lfw")
        if named and not Path(value).expanduser().exists():
            raise ValueError(f"{value}: no such file or folder (--{option.replace('_', '-')})")


def _config_from_yaml(config_cls, path: str):
    """``--config`` read with every error naming the file (field errors come back without it)."""
    import yaml

    if not Path(path).is_file():
        raise ValueError(f"{path}: no such config file")
    try:
        return config_cls.from_yaml(path)
    except (ValueError, TypeError, yaml.YAMLError) as err:
        if str(path) in str(err):
            raise
        raise ValueError(f"{path}: {err}") from None


def cmd_train_stage1(args: argparse.Namespace) -> None:
    cfg, warnings = _train_config(args, "stage1")  # paths and schema checked before torch is imported
    from .train.launch import train_stage1

    if args.vgg_weights:
        cfg.stage1.vgg_weights = args.vgg_weights
    if args.g1_gan_variant:
        cfg.stage1.g1_gan_variant = args.g1_gan_variant
    _say(warnings)
    print(f"G1 written to {train_stage1(cfg, args.out, resume=args.resume, warnings=warnings)}")


def cmd_train_stage2(args: argparse.Namespace) -> None:
    cfg, warnings = _train_config(args, "stage2")  # paths and schema checked before torch is imported
    from .train.launch import train_stage2

    cfg.stage2.setting = args.setting
    if args.g1:
        cfg.stage2.g1_checkpoint = args.g1
    _say(warnings)
    final = train_stage2(cfg, args.out, resume=args.resume, warnings=warnings)
    print(f"G2 ({args.setting}) written to {final}")


def _say(warnings: list[str]) -> None:
    for w in warnings:
        print(f"s2ld: warning: {w}", file=sys.stderr)


def _add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--profile",
        choices=PROFILES,
        default="quick",
        help="network sizes and schedule (paper: 200 epochs, batch 32, Adam 2e-4)",
    )
    p.add_argument("--config", help="a YAML training config (e.g. a run's config.yaml) instead of a profile")
    p.add_argument("--hr-data", help="labelled HR faces: 'embedded' (default), a 300W folder or an AFLW CSV")
    p.add_argument(
        "--target-lr", help="unlabelled LR faces: 'embedded' (default), 'lfw' or a folder of crops"
    )
    p.add_argument("--schema", choices=tuple(SCHEMAS),
                   help="landmark schema (default: the data's: ibug68 for a 300W folder, aflw19 for an AFLW "
                        "CSV and for the embedded faces); a schema the data is not annotated in is refused")
    p.add_argument("--out", required=True, help="run folder (config, stats.jsonl, samples, checkpoints)")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:1 …")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--max-steps", type=int, help="stop after this many steps (smoke runs)")
    p.add_argument("--checkpoint-every", type=int, help="steps between resume checkpoints (default 200)")
    p.add_argument("--resume", action="store_true", help="continue exactly from OUT/checkpoints/last.pt")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any field of the training config (its config.yaml), e.g. --set stage2.c=0.01 "
                        "--set stage2.lr_augment=none; applied last, repeatable")


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


# ----------------------------------------------------------------------------- predict / evaluate


def cmd_predict(args: argparse.Namespace) -> None:
    """Photos or face crops → JSON/CSV/overlays (``s2ld_core.predict_photos``)."""
    from .predict_photos import PredictRequest, run_predict

    run_predict(PredictRequest(**{name: getattr(args, name) for name in PredictRequest.option_names()}))


def cmd_evaluate(args: argparse.Namespace) -> None:
    _check_evaluate_paths(args)  # before torch is imported: a wrong path answers at once
    from .atomic import atomic_write_json, check_writable
    from .evaluation import evaluate_detector, faces_from_annotations
    from .inference import LandmarkDetector
    from .plotting import plot_ced, save_figure

    if args.out:
        check_writable(args.out, folder=True)
    if not args.checkpoint:
        from .inference import shipped_weights

        args.checkpoint = shipped_weights("ibug68")
    det = LandmarkDetector.from_checkpoint(args.checkpoint, args.device or "cpu")
    if args.decoding:
        det.set_decoding(args.decoding)
    det.set_flip_test(args.flip_test)
    if args.annotations and args.imglab:
        raise ValueError("--annotations and --imglab: give one set of faces")
    if args.annotations:
        _check_annotations_fit(args.annotations, det.schema, args.checkpoint)
        faces = faces_from_annotations(args.annotations, args.images_root)
        source = args.annotations
    elif args.imglab:
        from .data.datasets import load_imglab_faces
        from .predict_photos import input_files

        xml = input_files(args.imglab, (".xml",), "imglab .xml files")
        faces = load_imglab_faces(xml, det.input_size, camera=args.camera)
        source = f"{', '.join(map(str, args.imglab))} ({args.camera or 'native resolution'})"
    else:
        from .data.config import DataConfig
        from .data.datasets import embedded_target_test

        faces = embedded_target_test(DataConfig(schema=det.schema.name))
        source = "embedded target-LR test set"
    ev = evaluate_detector(det, faces, args.normalizer)
    s = ev.summary
    how = f"{det.decoding} decoding" + (", flip test" if det.flip_test else "")
    print(
        f"{det.name} ({how}) on {source}: {s['n']} faces, NME {100 * s['nme']:.2f} % of the "
        f"{NORMALIZER_WORDS[s['normalizer']]}, AUC@0.08 {s['auc@0.08']:.3f}, AUC@0.10 {s['auc@0.10']:.3f}, "
        f"FR@0.08 {100 * s['fr@0.08']:.1f} %, FR@0.10 {100 * s['fr@0.10']:.1f} %"
    )
    if args.out:
        out = Path(args.out)
        atomic_write_json(
            out / "metrics.json",
            {
                "checkpoint": str(args.checkpoint),
                "source": str(source),
                "decoding": det.decoding,
                "flip_test": det.flip_test,
                **s,
                "per_point": ev.per_point.tolist(),
            },
        )
        save_figure(plot_ced({det.name: ev.errors}, title=f"CED on {source}"), out / "ced.png")
        print(f"metrics and CED plot in {out}")


# how each normaliser is named where a figure is printed (every figure changes with it)
NORMALIZER_WORDS = {
    "box": "box size (normaliser box: √(w·h) of the landmark box)",
    "interocular": "inter-ocular distance (normaliser interocular: outer eye corners)",
}


def _check_evaluate_paths(args: argparse.Namespace) -> None:
    """Every path ``s2ld evaluate`` names exists, checked before the slow imports."""
    if args.checkpoint and not Path(args.checkpoint).is_file():
        folder = Path(args.checkpoint).is_dir()
        what = "is a folder, not a checkpoint file" if folder else "checkpoint not found"
        raise ValueError(f"{args.checkpoint}: {what}")
    if args.annotations and not Path(args.annotations).is_file():
        raise ValueError(f"{args.annotations}: no such annotation file")
    if args.images_root and not Path(args.images_root).is_dir():
        raise ValueError(f"{args.images_root}: --images-root is not a folder")
    for item in args.imglab or []:
        if not Path(item).exists():
            raise ValueError(f"{item}: no such file or folder")


def _check_annotations_fit(path: str, schema: str, checkpoint: str) -> None:
    """The annotation file exists and its points can be compared with the checkpoint's, before any
    image is read (the schema conversion would otherwise fail after the work, naming no file)."""
    import numpy as np

    from .data.formats import read_annotations
    from .schemas import convert_points, get_schema

    if not Path(path).is_file():
        raise ValueError(f"{path}: no such annotation file")
    theirs, ours = get_schema(read_annotations(path).schema), get_schema(schema)
    try:
        convert_points(np.zeros((theirs.num_points, 2)), theirs, ours)
    except ValueError:
        raise ValueError(
            f"{path}: holds {theirs.name} points, which cannot be compared with the {ours.name} points "
            f"of {checkpoint}; annotate with --schema {ours.name} or use a matching model"
        ) from None


# ----------------------------------------------------------------------------- study


def cmd_study(args: argparse.Namespace) -> None:
    from .study.runner import main_study

    main_study(args)


def cmd_export(args: argparse.Namespace) -> None:
    from .inference.onnx_backend import export_checked

    out, check = export_checked(args.checkpoint, args.onnx, int8=args.int8, calibration=args.calibration,
                                static_batch=args.static_batch, opset=args.opset)
    print(f"wrote {out} ({check['kind']}, {out.stat().st_size / 1e6:.2f} MB); on {check['faces']} faces vs "
          f"PyTorch: mean {check['mean_px']:.4f} px, max {check['max_px']:.4f} px")


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s2ld", description="S²LD: landmarks on low-resolution faces.")
    parser.add_argument("--version", action="version", version=f"s2ld {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors (for bug reports)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data = sub.add_parser("data", help="the embedded default data").add_subparsers(
        dest="data_cmd", required=True
    )
    p = data.add_parser("preview", help="contact sheet: HR, subsampled LR, target LR and real LR faces")
    p.add_argument("--out", default="reports/data_preview.png")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-row", type=int, default=10)
    p.set_defaults(func=cmd_data_preview)
    p = data.add_parser("export-lfw", help="write the 100 real LR faces (scikit-image lfw_subset) as PNGs")
    p.add_argument("out")
    p.set_defaults(func=cmd_data_export_lfw)

    train = sub.add_parser("train", help="train stage 1 (G1/D1) or stage 2 (G2 …)").add_subparsers(
        dest="stage", required=True
    )
    p = train.add_parser("stage1", help="high→low generator G1 against D1 (eq. 2–6)")
    _add_train_arguments(p)
    p.add_argument("--vgg-weights", help="local VGG-19 state dict for the perceptual loss (eq. 2's γ term)")
    p.add_argument("--g1-gan-variant", choices=("paper", "sagan"), help="eq. 3 as written, or SAGAN's hinge")
    p.set_defaults(func=cmd_train_stage1)
    p = train.add_parser("stage2", help="heatmap generator G2 in setting S1–S4 or HR-LD (eq. 7–15)")
    _add_train_arguments(p)
    p.add_argument("--setting", required=True, choices=SETTINGS)
    p.add_argument("--g1", help="G1 checkpoint from stage 1 (needed by S2–S4)")
    p.set_defaults(func=cmd_train_stage2)

    from .predict_photos import add_predict_arguments

    p = sub.add_parser("predict", help="landmarks on photos (faces found) or face crops → JSON, CSV")
    add_predict_arguments(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", help="NME, AUC, FR and a CED plot against annotations")
    p.add_argument("--checkpoint", help="a G2 checkpoint (default: the shipped ibug68 weights)")
    p.add_argument("--annotations", help="annotation JSON (default: the embedded target-LR test set)")
    p.add_argument("--images-root", help="folder the annotation's image paths are relative to")
    p.add_argument(
        "--imglab", nargs="+", metavar="XML",
        help="imglab XML files or folders (e.g. ../shared/data/pascal-faces-68)",
    )
    p.add_argument(
        "--camera", help="with --imglab: degrade each face crop first, e.g. target-camera (default: native)"
    )
    p.add_argument("--decoding", choices=DECODINGS,
                   help="heatmap decoding (default: pdm where the checkpoint has a shape model, else raw)")
    p.add_argument("--flip-test", action="store_true", help="average with the mirror image's heatmaps")
    p.add_argument("--normalizer", choices=NORMALIZERS, default="box",
                   help="what NME divides by: box (default; √(w·h) of the landmark box, the README's and "
                        "the LR sets' figure) or interocular (outer eye corners, 300W's)")
    p.add_argument("--out", help="folder for metrics.json and ced.png")
    p.add_argument("--device")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("export", help="export a G2 checkpoint to ONNX (optionally int8) for fast inference")
    add_export_arguments(p)
    p.set_defaults(func=cmd_export)

    from .study.runner import add_study_arguments

    p = sub.add_parser("study", help="run the study notebooks with papermill → reports/<run>/index.html")
    add_study_arguments(p)
    p.set_defaults(func=cmd_study)

    _add_registered_commands(sub)
    return parser


COMMAND_GROUP = "s2ld.commands"


def _add_registered_commands(sub) -> None:
    """Commands that live outside the core package — ``annotate``, ``demo``, ``agreement`` (the
    ``annotator`` app) and ``bench`` (``benchmarks``) — add themselves through the ``s2ld.commands``
    entry points (``pyproject.toml``), so ``s2ld_core`` never imports them: each entry point is a
    function that takes the sub-parsers and adds its commands. One that cannot load (a broken
    installation) is skipped with a one-line note rather than taking every other command down."""
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name):
        try:
            register = ep.load()
        except ImportError as err:
            print(f"s2ld: note: command group {ep.name!r} not available ({err})", file=sys.stderr)
            continue
        register(sub)


def _user_errors() -> tuple[type[BaseException], ...]:
    """What a user can cause with a bad file or value (as opposed to a bug in s2ld)."""
    import yaml

    errors: list[type[BaseException]] = [ValueError, OSError, yaml.YAMLError]
    # a training run that diverged; only possible once the runner (and torch) were imported, so an
    # early error never pays seconds for importing torch just to name this class
    runner = sys.modules.get(f"{__package__}.train.runner")
    if runner is not None:
        errors.append(runner.TrainingDiverged)
    return tuple(errors)


def _error_line(err: BaseException) -> str:
    """One line naming the file: ``x.json: No such file or directory``, not ``[Errno 2] …: 'x.json'``."""
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        files = f"{err.filename} -> {err.filename2}" if err.filename2 is not None else f"{err.filename}"
        text = f"{files}: {err.strerror}"
    else:
        text = str(err) or type(err).__name__
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except _user_errors() as err:
        if args.debug:
            raise
        print(f"s2ld: error: {_error_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("s2ld: interrupted (a training run resumes with --resume)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
