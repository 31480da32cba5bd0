"""User errors end in one line naming the file and the problem, before any slow work or server starts.

Each case runs ``s2ld`` in-process with the server launch replaced by a trap: a command that would
have started a server on bad input fails the test instead of hanging.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from s2ld_core.cli import main
from s2ld_core.data.formats import AnnotationSet, ImageAnnotation, write_annotations


@pytest.fixture(autouse=True)
def no_server(monkeypatch):
    pytest.importorskip("gradio")
    import annotator.app as app

    def trap(*args, **kwargs):
        raise AssertionError("a server was started despite bad input")

    monkeypatch.setattr(app, "launch", trap)


def _error(capsys, argv) -> str:
    rc = main(argv)
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert rc == 2, (argv, captured.out, err)
    assert err.startswith("s2ld: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def _faces(root, n=2):
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        assert cv2.imwrite(str(root / f"f{i}.png"), np.full((20, 20, 3), 40 * i, np.uint8))
    return root


def _checkpoint(path, schema="aflw19", k=19):
    from checkpoint_files import write_g2

    write_g2(path, schema, seed=None, sigma=1.0, mean_shape=[[10.0, 10.0]] * k)
    return path


def _five_annotations(path):
    aset = AnnotationSet.new("five", "ann")
    aset.images["f0.png"] = ImageAnnotation.from_arrays(20, 20, np.full((5, 2), 9.0), status="done")
    write_annotations(path, aset)
    return path


# ---- s2ld annotate ------------------------------------------------------------------------------------


def test_annotate_missing_empty_and_corrupt_are_refused_before_serving(tmp_path, capsys):
    assert "nope: not a folder" in _error(capsys, ["annotate", str(tmp_path / "nope")])
    (tmp_path / "empty").mkdir()
    assert "empty: no images" in _error(capsys, ["annotate", str(tmp_path / "empty")])
    faces = _faces(tmp_path / "faces")
    bad = faces / "annotations" / "bob.json"
    bad.parent.mkdir()
    bad.write_text('{"format": "s2ld-annotations", ')
    assert f"{bad}:" in _error(capsys, ["annotate", str(faces), "--annotator", "bob"])
    assert "bob.json" in bad.name and bad.read_text() == '{"format": "s2ld-annotations", '  # untouched


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--zoom", "99"], "--zoom 99"),
        (["--auth", "nopassword"], "--auth must look like user:password"),
        (["--port", "70000"], "--port 70000"),
        (["--root", "/no/such/root"], "/no/such/root: --root is not a folder"),
        (["--annotator", "../evil"], "annotator name '../evil'"),
        (["--schema", "aflw19", "--annotator", "five"], "made with schema 'five'"),
    ],
)
def test_annotate_bad_values_are_one_line(tmp_path, capsys, extra, fragment):
    faces = _faces(tmp_path / "faces")
    _five_annotations(faces / "annotations" / "five.json")
    assert fragment in _error(capsys, ["annotate", str(faces), *extra])


def test_annotate_and_demo_refuse_a_bad_checkpoint_before_serving(tmp_path, capsys):
    faces = _faces(tmp_path / "faces")
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint\n")
    refusal = f"{junk}: not a PyTorch checkpoint"
    assert refusal in _error(capsys, ["annotate", str(faces), "--checkpoint", str(junk)])
    assert refusal in _error(capsys, ["demo", "--checkpoint", str(junk)])
    missing = tmp_path / "none.pt"
    assert f"{missing}: checkpoint not found" in _error(capsys, ["demo", "--checkpoint", str(missing)])
    good = _checkpoint(tmp_path / "S4.pt", "five", 5)
    err = _error(capsys, ["demo", "--checkpoint", str(good), "--baseline-checkpoint", str(junk)])
    assert f"{junk}:" in err
    assert "only with --checkpoint" in _error(capsys, ["demo", "--baseline-checkpoint", str(good)])


# ---- predict / evaluate / agreement / train / data -----------------------------------------------------


def test_predict_out_through_a_file_or_onto_a_folder_names_it_before_work(tmp_path, capsys):
    faces = _faces(tmp_path / "faces")
    ckpt = _checkpoint(tmp_path / "S4.pt")
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    out = blocker / "x.json"
    err = _error(capsys, ["predict", "--checkpoint", str(ckpt), str(faces), "--out", str(out)])
    assert err == f"s2ld: error: {out}: cannot write here: {blocker} is a file, not a folder"
    err = _error(capsys, ["predict", "--checkpoint", str(ckpt), str(faces), "--out", str(faces)])
    assert err == f"s2ld: error: {faces}: is a folder; give a file name"
    err = _error(capsys, ["predict", "--checkpoint", str(ckpt), str(faces), "--out", str(tmp_path / "p.json"),
                          "--overlay", str(blocker)])
    assert f"{blocker}: is a file, not a folder" in err


def test_evaluate_with_annotations_of_another_schema_names_both_files(tmp_path, capsys):
    _faces(tmp_path / "faces")
    ann = _five_annotations(tmp_path / "faces" / "annotations" / "ann.json")
    ckpt = _checkpoint(tmp_path / "S4.pt")  # aflw19
    err = _error(capsys, ["evaluate", "--checkpoint", str(ckpt), "--annotations", str(ann)])
    assert err.startswith(f"s2ld: error: {ann}: holds five points") and str(ckpt) in err and "aflw19" in err
    missing = tmp_path / "none.json"
    err = _error(capsys, ["evaluate", "--checkpoint", str(ckpt), "--annotations", str(missing)])
    assert f"{missing}: no such annotation file" in err


def test_agreement_with_mixed_schemas_names_the_file(tmp_path, capsys):
    a = _five_annotations(tmp_path / "a.json")
    b = tmp_path / "b.json"
    write_annotations(b, AnnotationSet.new("aflw19", "other"))
    err = _error(capsys, ["agreement", str(a), str(b), "--out", str(tmp_path / "qc")])
    assert err.startswith(f"s2ld: error: {b}: holds aflw19 points but {a} holds five")


def test_train_config_errors_name_the_file(tmp_path, capsys):
    broken = tmp_path / "broken.yaml"
    broken.write_text("optim: [1, 2\n")
    err = _error(capsys, ["train", "stage1", "--config", str(broken), "--out", str(tmp_path / "r")])
    assert f"{broken}" in err
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("no_such_field: 3\n")
    err = _error(capsys, ["train", "stage1", "--config", str(unknown), "--out", str(tmp_path / "r")])
    assert f"{unknown}:" in err and "no_such_field" in err
    assert not (tmp_path / "r").exists()


def test_data_preview_out_through_a_file(tmp_path, capsys):
    blocker = tmp_path / "f"
    blocker.write_text("x")
    err = _error(capsys, ["data", "preview", "--out", str(blocker / "p.png")])
    assert f"{blocker} is a file, not a folder" in err


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        main(["--debug", "annotate", str(tmp_path / "nope")])

