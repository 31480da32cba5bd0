"""``s2ld study``: run the five notebooks with papermill into a run folder and write the report.

Each notebook is executed headless into ``<run>/notebooks/<name>.ipynb`` and exported to HTML beside
it; artefacts pass between notebooks through the run folder (checkpoints, training runs), never
through kernel state, so any notebook can also run alone. After a notebook succeeds a done-marker
``<run>/state/<name>.json`` records its parameters and the notebook's source hash; a rerun skips
notebooks whose marker matches and runs the rest, and training inside a notebook reuses finished
checkpoints or resumes an interrupted ``last.pt``. A failing notebook stops the study with one line
that names it and the failing cell; the partial report is still written.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..atomic import atomic_write_json, atomic_write_text
from ..config_files import assignments, merge
from ..train.config import PROFILES
from .config import NOTEBOOKS, StudyConfig, study_config

NAMED_PARAMETERS = ("profile", "run_dir", "hr_data", "target_lr", "epochs", "max_steps", "seed", "device")


class StudyFailed(RuntimeError):
    """A notebook failed; the message is one line naming the notebook and the failing cell."""


def default_notebooks_dir() -> Path:
    """``notebooks/`` of the checkout this package runs from."""
    return Path(__file__).resolve().parents[2] / "notebooks"


# ============================================================================= configuration


def select_notebooks(only: str | Sequence[str] | None) -> list[str]:
    """``"01,03"`` (prefixes or full names, any order) → the notebooks in study order."""
    if not only:
        return list(NOTEBOOKS)
    wanted = [w.strip().removesuffix(".ipynb") for w in (only.split(",") if isinstance(only, str) else only)]
    chosen = set()
    for w in wanted:
        if not w:
            continue
        hits = [
            nb for nb in NOTEBOOKS if nb == w or nb.startswith(w + "_") or nb.split("_", 1)[0] == w.zfill(2)
        ]
        if not hits:
            raise ValueError(f"--only: no notebook matches {w!r}; known: {', '.join(NOTEBOOKS)}")
        chosen.update(hits)
    return [nb for nb in NOTEBOOKS if nb in chosen]


def _absolute_if_path(spec: str) -> str:
    """Data specs are names (``embedded``, ``lfw``) or paths; paths become absolute so a kernel with
    another working directory reads the same files."""
    if spec in ("embedded", "lfw"):
        return spec
    return str(Path(spec).expanduser().resolve())


def resolve_study(args: argparse.Namespace) -> StudyConfig:
    """The command line (and an optional ``--config`` YAML) → a validated :class:`StudyConfig`."""
    base: dict[str, Any] = {}
    if getattr(args, "config", None):
        base = StudyConfig.from_yaml(args.config).to_dict()
    profile = args.profile or base.get("profile", "quick")
    overrides = {k: v for k, v in base.items() if k != "profile"}
    flags = {
        "hr_data": args.hr_data,
        "target_lr": args.target_lr,
        "g1_real_lr": args.g1_real_lr,
        "seed": args.seed,
        "device": args.device,
        "epochs": args.epochs,
        "max_steps": args.max_steps,
        "threads": args.threads,
        "hrld_source": getattr(args, "hrld_source", None),
    }
    overrides = merge(overrides, {k: v for k, v in flags.items() if v is not None})
    if args.pretrained_lightcnn is not None:  # '' too: it turns the profile's shipped default off
        overrides = merge(overrides, {"verification": {"pretrained": args.pretrained_lightcnn}})
    overrides = merge(overrides, assignments(getattr(args, "set", None)))
    overrides["run_dir"] = args.out or overrides.get("run_dir") or f"reports/{profile}"
    cfg = study_config(profile, **overrides)
    cfg.run_dir = str(Path(cfg.run_dir).expanduser().resolve())
    for name in ("hr_data", "target_lr", "g1_real_lr"):
        setattr(cfg, name, _absolute_if_path(getattr(cfg, name)))
    if cfg.verification.pretrained and cfg.verification.pretrained != "shipped":
        cfg.verification.pretrained = str(Path(cfg.verification.pretrained).expanduser().resolve())
    return cfg


def notebook_parameters(cfg: StudyConfig) -> dict[str, Any]:
    """What papermill injects: the named parameters, ``interactive=False`` and every other field
    of the study as ``overrides`` — so a notebook rebuilds exactly this configuration."""
    data = cfg.to_dict()
    params = {k: data[k] for k in NAMED_PARAMETERS}
    params["interactive"] = False
    params["overrides"] = {k: v for k, v in data.items() if k not in NAMED_PARAMETERS}
    return params


def _sci(x: float) -> str:
    """``2e-4`` rather than ``0.0002``: learning rates read as the paper writes them."""
    mantissa, exponent = f"{x:.3e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


def _lr_steps(tcfg) -> str:
    o = tcfg.optim
    cap = f", at most {tcfg.max_steps} steps" if tcfg.max_steps else ""
    decay = (
        "one-cycle (warm-up, cosine down)" if o.schedule == "onecycle"
        else f"lr x{o.lr_decay:g} at epochs {o.milestone_epochs()}"
    )
    optimiser = f"{o.epochs} epochs, batch {o.batch_size}, Adam lr {_sci(o.lr)}, betas {tuple(o.betas)}"
    return f"{optimiser}, {decay}{cap}"


def training_plan(cfg: StudyConfig) -> list[dict[str, Any]]:
    """Every training run the study makes, in order (what ``--dry-run`` lists)."""
    same = cfg.target_lr == cfg.g1_real_lr
    plan = [("G1", "stage1", None, cfg.g1_real_lr, "01")]
    if not same:
        plan.append(("G1_target", "stage1", None, cfg.target_lr, "04 (L4)"))
    plan += [
        ("S4", "stage2", "S4", cfg.target_lr, "02"),
        ("S1", "stage2", "S1", None, "03"),
        ("S2", "stage2", "S2", None, "03"),
        ("S3", "stage2", "S3", None, "03"),
        ("hrld", "stage2", "hrld", None, "03, 05"),
    ]
    if not same:
        plan.append(("S4_target", "stage2", "S4", cfg.target_lr, "04 (L4)"))
    out = []
    for name, stage, setting, real, where in plan:
        if name == "hrld" and cfg.hrld_source == "shipped":
            out.append({"run": name, "notebook": where, "setting": setting, "real_lr": "-",
                        "schedule": "not trained: the shipped s2ld_core/weights/ibug68/hrld.pt "
                        "(pretrained, shipped; hrld_source: shipped)"})
            continue
        t = (
            cfg.train_config(stage, setting, real_lr=real)
            if stage == "stage2"
            else cfg.train_config(stage, real_lr=real)
        )
        out.append(
            {
                "run": name,
                "notebook": where,
                "setting": setting or "G1/D1",
                "real_lr": real if real else "-",
                "schedule": _lr_steps(t),
            }
        )
    return out


def dry_run_text(cfg: StudyConfig, notebooks: Sequence[str], nb_dir: Path | None = None) -> str:
    """The resolved configuration as YAML: the study, the stage-1 and stage-2 TrainConfigs, the
    training runs and which notebooks would run or be skipped."""
    root = Path(cfg.run_dir)
    s1 = cfg.train_config("stage1")
    s2 = cfg.train_config("stage2", "S4", g1_checkpoint=str(root / "checkpoints" / "G1.pt"))
    status = {
        nb: ("done (would skip)" if _is_done(root, nb, cfg, nb_dir) else "would run") for nb in notebooks
    }

    def with_steps(t) -> dict[str, Any]:
        d = yaml.safe_load(t.to_yaml())
        d["optim"]["lr_step_epochs"] = t.optim.milestone_epochs()
        return d

    doc = {
        "study": cfg.to_dict(),
        "stage1": with_steps(s1),
        "stage2": with_steps(s2),
        "training_runs": training_plan(cfg),
        "notebooks": status,
    }
    head = (
        f"# s2ld study --dry-run: nothing is executed\n"
        f"# stage 1 (G1/D1): {_lr_steps(s1)}\n# stage 2 (G2, S4): {_lr_steps(s2)}\n"
    )
    return head + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


# ============================================================================= markers


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def _marker(root: Path, nb: str) -> Path:
    return root / "state" / f"{nb}.json"


def _marker_key(cfg: StudyConfig, nb_path: Path) -> dict[str, str]:
    params = json.dumps(notebook_parameters(cfg), sort_keys=True, default=str).encode()
    source = nb_path.read_bytes() if nb_path.exists() else b""
    return {"parameters_sha1": _sha1(params), "notebook_sha1": _sha1(source)}


def _is_done(root: Path, nb: str, cfg: StudyConfig, nb_dir: Path | None) -> bool:
    """Done = a marker with these parameters and this notebook source, and its outputs still there."""
    path = _marker(root, nb)
    if not path.exists() or not (root / "notebooks" / f"{nb}.ipynb").exists():
        return False
    try:
        marker = json.loads(path.read_text())
    except json.JSONDecodeError:
        return False
    key = _marker_key(cfg, (nb_dir or default_notebooks_dir()) / f"{nb}.ipynb")
    return all(marker.get(k) == v for k, v in key.items())


# ============================================================================= execution


@contextmanager
def _static_output():
    """Tell the kernels there is no frontend (see :func:`~.context.widgets_enabled`)."""
    from .context import STATIC_ENV

    old = os.environ.get(STATIC_ENV)
    os.environ[STATIC_ENV] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(STATIC_ENV, None)
        else:
            os.environ[STATIC_ENV] = old


def _one_line(text: Any, limit: int = 300) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def failure_message(nb: str, err: Any, executed: Path) -> str:
    """One line from papermill's ``PapermillExecutionError``: notebook, cell, exception, copy."""
    first = next((ln.strip() for ln in str(getattr(err, "source", "")).splitlines() if ln.strip()), "")
    cell = f"cell {err.cell_index}" + (f" ({_one_line(first, 60)})" if first else "")
    return f"notebook {nb} failed at {cell}: {err.ename}: {_one_line(err.evalue)} [executed copy: {executed}]"


def export_html(executed: Path) -> Path:
    """The executed notebook as a standalone HTML page (outputs inline) beside it."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_filename(str(executed))
    out = executed.with_suffix(".html")
    atomic_write_text(out, body)
    return out


@dataclass
class StudyResult:
    root: Path
    status: dict[str, dict[str, Any]] = field(default_factory=dict)
    index: Path | None = None
    seconds: float = 0.0


def execute_notebook(
    nb: str, cfg: StudyConfig, nb_dir: Path, progress: bool = True, log_output: bool = False
) -> float:
    """Run one notebook with papermill into ``<run>/notebooks/``; raises :class:`StudyFailed`."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    root = Path(cfg.run_dir)
    src = nb_dir / f"{nb}.ipynb"
    if not src.exists():
        raise ValueError(f"{src}: notebook not found (pass --notebooks DIR)")
    out = root / "notebooks" / f"{nb}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        with _static_output():
            pm.execute_notebook(
                str(src),
                str(out),
                parameters=notebook_parameters(cfg),
                cwd=str(root),
                progress_bar={"desc": nb, "leave": False, "position": 1} if progress else False,
                log_output=log_output,
                start_timeout=180,
                # ipykernel warns on every start that local TCP is unencrypted
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
            )
    except PapermillExecutionError as err:
        _try_export(out)
        raise StudyFailed(failure_message(nb, err, out)) from None
    seconds = time.perf_counter() - t0
    _try_export(out)
    atomic_write_json(
        _marker(root, nb),
        {
            **_marker_key(cfg, src),
            "parameters": notebook_parameters(cfg),
            "seconds": round(seconds, 1),
            "finished": _dt.datetime.now().isoformat(timespec="seconds"),
        },
    )
    return seconds


def _try_export(executed: Path) -> None:
    """HTML export is a convenience; a failure to export must not hide the real result."""
    if not executed.exists():
        return
    try:
        export_html(executed)
    except Exception as err:  # noqa: BLE001 - nbconvert raises many types; one warning covers them
        print(
            f"s2ld study: warning: could not export {executed} to HTML ({_one_line(err, 120)})",
            file=sys.stderr,
        )


def run_study(
    cfg: StudyConfig,
    notebooks: Sequence[str] | None = None,
    nb_dir: Path | None = None,
    progress: bool = True,
    log_output: bool = False,
    force: bool = False,
) -> StudyResult:
    """Run ``notebooks`` (default: all five) in order, skip those already done with these parameters,
    gather metrics and write ``index.html``. Raises :class:`StudyFailed` after writing the partial report."""
    from tqdm.auto import tqdm

    from .report import gather_metrics, headline, write_index

    try:
        import nbconvert  # noqa: F401
        import papermill  # noqa: F401
    except ImportError as err:
        raise ValueError(
            f"s2ld study needs the [notebooks] extra ({err}); run: bash scripts/setup.sh"
        ) from None
    nb_dir = Path(nb_dir) if nb_dir else default_notebooks_dir()
    if not nb_dir.is_dir():
        raise ValueError(f"{nb_dir}: notebooks folder not found (pass --notebooks DIR)")
    notebooks = list(notebooks or NOTEBOOKS)
    root = Path(cfg.run_dir)
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(root / "study.yaml", cfg.to_yaml())
    status_path = root / "state" / "status.json"
    status: dict[str, dict[str, Any]] = json.loads(status_path.read_text()) if status_path.exists() else {}
    result = StudyResult(root, status)
    t0 = time.perf_counter()
    bar = tqdm(notebooks, desc="study", unit="notebook", disable=not progress, position=0)
    failure: StudyFailed | None = None
    for nb in bar:
        bar.set_postfix_str(nb)
        if not force and _is_done(root, nb, cfg, nb_dir):
            status[nb] = {**status.get(nb, {}), "state": "skipped (done before)", "error": None}
            bar.write(f"{nb}: done before with these parameters, skipped")
            continue
        status[nb] = {"state": "running", "started": _dt.datetime.now().isoformat(timespec="seconds")}
        atomic_write_json(status_path, status)
        try:
            seconds = execute_notebook(nb, cfg, nb_dir, progress, log_output)
        except StudyFailed as err:
            status[nb] = {"state": "failed", "error": str(err)}
            failure = err
            break
        status[nb] = {"state": "done", "seconds": round(seconds, 1)}
        bar.write(f"{nb}: done in {seconds:.0f} s")
    bar.close()
    result.seconds = time.perf_counter() - t0
    atomic_write_json(status_path, status)
    metrics = gather_metrics(root, status)
    result.index = write_index(root, status, metrics, elapsed=result.seconds)
    if failure is not None:
        raise failure
    for line in headline(metrics):
        print(line)
    print(f"report: {result.index} ({result.seconds / 60:.1f} min)")
    return result


# ============================================================================= command line


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``s2ld study`` (the CLI calls :func:`main_study` with the parsed namespace)."""
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default=None,
        help="quick (default; minutes on a laptop CPU), standard (converged; about 2 h on 2 cores) "
        "or paper (§4.1: 200 epochs, batch 32)",
    )
    parser.add_argument("--config", help="a study YAML (e.g. a run's study.yaml) to start from")
    parser.add_argument(
        "--hr-data", help="labelled HR faces: 'embedded' (default), a 300W folder or an AFLW CSV"
    )
    parser.add_argument(
        "--target-lr",
        help="target LR domain for D3 and the L4 G1: 'embedded' (default), 'lfw' or a folder of LR crops",
    )
    parser.add_argument(
        "--g1-real-lr",
        help="real LR the main G1 learns from: 'target' (quick/standard default: the target domain), "
        "'lfw' (paper default: another domain, as WIDER FACE is to TinyFace) or a folder",
    )
    parser.add_argument("--out", help="run folder (default reports/<profile>)")
    parser.add_argument("--only", help="notebooks to run, e.g. 01,03 (default: all five)")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved configuration and exit")
    parser.add_argument("--device", help="auto (default), cpu, cuda, cuda:1 …")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--epochs", type=int, help="epochs of every training run (overrides the profile)")
    parser.add_argument(
        "--max-steps", type=int, help="cap every training run at this many steps (smoke runs)"
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help="train every network K times, with seeds seed..seed+K-1 (training only: the test data "
        "stay the same), each run in <out>/seed<s>; Table 1 shows mean ± sd over runs and the paper's "
        "ordering is judged with a t-interval over runs (over_runs.json, over_runs.md)",
    )
    parser.add_argument(
        "--hrld-source",
        choices=("train", "shipped"),
        help="HR-LD for upscale + HR-LD and Table 5: 'train' it in the profile's budget or take the "
        "'shipped' one (s2ld_core/weights/ibug68/hrld.pt; the quick profile's default, whose budget "
        "is too small for HR-LD to converge)",
    )
    parser.add_argument("--pretrained-lightcnn",
                        help="LightCNN weights for setting L5: a file, 'shipped' (the package's LightCNN-9, "
                        "the quick and standard profiles' default) or '' (L5 not run)")
    parser.add_argument(
        "--set", action="append", metavar="KEY=VALUE",
        help="any field of the study config (its study.yaml), e.g. --set verification.epochs=20; "
        "train.* reaches every training run's config, e.g. --set train.stage2.lr_augment=none (the "
        "paper's arm: S1 learns from F(HR) alone); applied after the other options, repeatable",
    )
    parser.add_argument("--notebooks", help="folder with the notebooks (default: the checkout's notebooks/)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="rerun notebooks already done (training still reuses finished checkpoints)",
    )
    parser.add_argument(
        "--log-output", action="store_true", help="stream the notebooks' output to the terminal"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")


def main_study(args: argparse.Namespace) -> None:
    """``s2ld study``. Configuration errors raise ``ValueError`` (the CLI prints them as one line); a
    failing notebook prints one line naming it and its cell, then exits with status 1."""
    cfg = resolve_study(args)
    notebooks = select_notebooks(args.only)
    nb_dir = Path(args.notebooks).expanduser() if args.notebooks else None
    runs = getattr(args, "runs", None)
    runs = 1 if runs is None else runs
    if runs < 1:
        raise ValueError(f"--runs must be >= 1, got {runs}")
    cfgs = [cfg] if runs == 1 else runs_configs(cfg, runs)
    if args.dry_run:
        if runs > 1:
            print(f"# --runs {runs}: training seeds {', '.join(str(c.training_seed) for c in cfgs)} "
                  f"(data seed {cfg.seed}), into {', '.join(c.run_dir for c in cfgs)}; the first run:")
        print(dry_run_text(cfgs[0], notebooks, nb_dir), end="")
        return
    try:
        for c in cfgs:
            if runs > 1:
                print(f"s2ld study: run with training seed {c.training_seed} → {c.run_dir}", flush=True)
            run_study(
                c,
                notebooks,
                nb_dir,
                progress=not args.no_progress,
                log_output=args.log_output,
                force=args.force,
            )
    except StudyFailed as err:
        print(f"s2ld study: error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    if runs > 1:
        write_over_runs(Path(cfg.run_dir), [Path(c.run_dir) for c in cfgs])


def runs_configs(cfg: StudyConfig, runs: int) -> list[StudyConfig]:
    """``--runs K``: K copies of ``cfg`` training with seeds training_seed..+K-1, each in its folder;
    the data seed is ``cfg.seed`` in all of them, so every run is scored on the same faces."""
    import dataclasses

    from .over_runs import run_folder

    first = cfg.training_seed
    return [
        dataclasses.replace(cfg, train_seed=first + r, run_dir=str(run_folder(cfg.run_dir, first + r)))
        for r in range(runs)
    ]


def write_over_runs(root: Path, run_dirs: Sequence[Path]) -> dict[str, Any]:
    """Table 1 and the claims over the runs → ``<root>/over_runs.json`` and ``over_runs.md``, printed."""
    from .over_runs import aggregate, markdown

    result = aggregate(run_dirs)
    text = markdown(result)
    atomic_write_json(root / "over_runs.json", result)
    atomic_write_text(root / "over_runs.md", text + "\n")
    print(text)
    print(f"over runs: {root / 'over_runs.json'}, {root / 'over_runs.md'}")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m s2ld_core.study.runner`` — the same as ``s2ld study``."""
    parser = argparse.ArgumentParser(prog="s2ld study", description="Run the S²LD study notebooks.")
    add_study_arguments(parser)
    args = parser.parse_args(argv)
    try:
        main_study(args)
    except ValueError as err:
        print(f"s2ld study: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
