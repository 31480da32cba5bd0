"""``s2ld train`` takes its schema from the data, ``s2ld evaluate`` reports box NME in %, and path
errors answer before torch or Gradio is imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from s2ld_core.cli import main
from s2ld_core.data.formats import AnnotationSet, ImageAnnotation, write_annotations, write_pts

ROOT = Path(__file__).resolve().parents[1]


def _300w(root: Path, n: int = 4, k: int = 68) -> Path:
    """A 300W-style folder: images with a ``.pts`` of ``k`` points beside each."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        assert cv2.imwrite(str(root / f"f{i}.png"), np.full((160, 160, 3), 90 + 30 * i, np.uint8))
        write_pts(root / f"f{i}.pts", 40 + 80 * rng.random((k, 2)))
    return root


def _one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("s2ld: error: ") and "\n" not in err, err
    return err


def test_train_refuses_a_schema_its_data_is_not_annotated_in(tmp_path, capsys):
    data = _300w(tmp_path / "w300")
    base = ["train", "stage2", "--setting", "S1", "--hr-data", str(data), "--out", str(tmp_path / "run")]
    err = _one_line_error(capsys, [*base, "--schema", "aflw19"])
    assert f"--schema aflw19: --hr-data {data} holds ibug68 points (68-point .pts files)" in err
    assert "leave --schema out to train ibug68" in err
    config = tmp_path / "c.yaml"  # a run's config.yaml names a schema too: the same refusal, saying so
    config.write_text("data: {schema: five}\n")
    err = _one_line_error(capsys, [*base, "--config", str(config)])
    assert f"--schema five (data.schema of {config})" in err
    odd = _300w(tmp_path / "cofw", n=1, k=29)
    assert "f0.pts: 29 points; a 300W folder holds 68-point" in _one_line_error(
        capsys, ["train", "stage1", "--hr-data", str(odd), "--out", str(tmp_path / "r2")])
    assert not (tmp_path / "run").exists() and not (tmp_path / "r2").exists()


def test_train_takes_ibug68_from_a_300w_folder_and_says_so(tmp_path, capsys):
    data = _300w(tmp_path / "w300")
    run = tmp_path / "run"
    argv = ["train", "stage2", "--setting", "S1", "--hr-data", str(data), "--out", str(run),
            "--max-steps", "1", "--batch-size", "2", "--threads", "1"]
    assert main(argv) == 0
    assert "s2ld: warning: schema ibug68 inferred from --hr-data" in capsys.readouterr().err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["warnings"] == [
        f"schema ibug68 inferred from --hr-data {data} (68-point .pts files); pass --schema to name it"]
    import torch

    blob = torch.load(run / "checkpoints" / "S1.pt", weights_only=True)
    assert blob["schema"] == "ibug68" and blob["warnings"] == summary["warnings"]
    assert "schema: ibug68" in (run / "config.yaml").read_text()


def _ibug68_annotations(root: Path) -> Path:
    root.mkdir()
    aset = AnnotationSet.new("ibug68", "ann")
    rng = np.random.default_rng(1)
    for i in range(2):
        assert cv2.imwrite(str(root / f"f{i}.png"), np.full((32, 32, 3), 60 * (i + 1), np.uint8))
        pts = 6 + 20 * rng.random((68, 2))
        aset.images[f"f{i}.png"] = ImageAnnotation.from_arrays(32, 32, pts, status="done")
    return write_annotations(root / "annotations" / "ann.json", aset)


def test_evaluate_reports_box_nme_in_percent_and_names_the_normaliser(tmp_path, capsys):
    from tests.test_inference import _checkpoint

    ck = tmp_path / "m.pt"
    _checkpoint(ck, schema="ibug68", k=68)
    ann = _ibug68_annotations(tmp_path / "faces")
    out = tmp_path / "ev"
    assert main(["evaluate", "--checkpoint", str(ck), "--annotations", str(ann), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    box = json.loads((out / "metrics.json").read_text())
    assert box["normalizer"] == "box"  # ibug68's own default is inter-ocular: box is asked for here
    assert f"NME {100 * box['nme']:.2f} % of the box size (normaliser box" in printed
    assert main(["evaluate", "--checkpoint", str(ck), "--annotations", str(ann), "--out", str(out),
                 "--normalizer", "interocular"]) == 0
    eye = json.loads((out / "metrics.json").read_text())
    assert eye["normalizer"] == "interocular" and eye["nme"] != box["nme"]
    assert "of the inter-ocular distance (normaliser interocular" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["annotate", "/nope"], "/nope: not a folder"),
        (["annotate", ".", "--root", "/nope"], "/nope: --root is not a folder"),
        (["demo", "--checkpoint", "/nope.pt"], "/nope.pt: checkpoint not found (--checkpoint)"),
        (["evaluate", "--checkpoint", "/nope.pt"], "/nope.pt: checkpoint not found"),
        (["evaluate", "--annotations", "/nope.json"], "/nope.json: no such annotation file"),
        (["evaluate", "--imglab", "/nope"], "/nope: no such file or folder"),
        (["train", "stage1", "--hr-data", "/nope", "--out", "/tmp/x"],
         "/nope: no such file or folder (--hr-data)"),
        (["train", "stage2", "--setting", "S2", "--g1", "/nope.pt", "--out", "/tmp/x"],
         "/nope.pt: no such file (--g1)"),
    ],
)
def test_path_errors_answer_before_torch_and_gradio_are_imported(argv, message):
    """What made ``s2ld annotate /nope`` take seconds: importing the web stack and torch first."""
    code = (
        "import sys; from s2ld_core.cli import main; rc = main(sys.argv[1:]); "
        "print(rc, sorted(m for m in ('torch', 'gradio') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.stdout.strip() == "2 []", (done.stdout, done.stderr)
    assert done.stderr.strip() == f"s2ld: error: {message}"
