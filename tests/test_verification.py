"""Face verification: five-point alignment, LightCNN, the 1:N identification protocol, training."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
import torch

from s2ld_core.geometry import apply_affine, resize_image
from s2ld_core.verification.align import (
    ARCFACE_TEMPLATE_112,
    TEMPLATE_32,
    align_faces,
    canonical_template,
    estimate_affine,
    estimate_similarity,
)
from s2ld_core.verification.lightcnn import (
    MFM,
    LightCNNArch,
    build_lightcnn,
    load_pretrained,
)
from s2ld_core.verification.protocol import (
    half_split,
    identification_scores,
    similarity_matrix,
    tinyface_protocol,
    wilson_interval,
)
from s2ld_core.verification.train import (
    LightCNNConfig,
    evaluate_alignment_setting,
    extract_features,
    train_lightcnn,
)

torch.set_num_threads(1)


# ---------------------------------------------------------------- alignment


def _draw_dots(size: int, centres: np.ndarray, sigma: float) -> np.ndarray:
    """A black image with a bright Gaussian dot at each (sub-pixel) centre."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    img = np.zeros((size, size))
    for x, y in centres:
        img += np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
    img = np.clip(img * 255, 0, 255).astype(np.uint8)
    return np.repeat(img[:, :, None], 3, axis=2)


def _dot_centres(image: np.ndarray, guesses: np.ndarray, radius: int) -> np.ndarray:
    """Intensity-weighted centroid of the dot near each guess."""
    gray = image[:, :, 0].astype(np.float64)
    out = []
    for gx, gy in guesses:
        x0, y0 = int(round(gx)), int(round(gy))
        win = gray[y0 - radius : y0 + radius + 1, x0 - radius : x0 + radius + 1]
        yy, xx = np.mgrid[y0 - radius : y0 + radius + 1, x0 - radius : x0 + radius + 1]
        out.append([(win * xx).sum() / win.sum(), (win * yy).sum() / win.sum()])
    return np.array(out)


def test_template_32_is_the_112_template_resized():
    expected = (ARCFACE_TEMPLATE_112 + 0.5) * (32 / 112) - 0.5
    np.testing.assert_allclose(TEMPLATE_32, expected, atol=1e-5)
    np.testing.assert_allclose(canonical_template(112), ARCFACE_TEMPLATE_112, atol=1e-5)


@pytest.mark.parametrize("size", [32, 112])
def test_template_points_map_onto_themselves(size):
    img = np.zeros((112, 112, 3), np.uint8)
    res = align_faces([img], ARCFACE_TEMPLATE_112[None], "five", size=size)
    assert not res.flagged[0] and res.reasons == [None]
    mapped = apply_affine(res.matrices[0], ARCFACE_TEMPLATE_112)
    assert np.abs(mapped - canonical_template(size)).max() < 1e-4


def test_estimators_recover_known_transforms_and_never_reflect():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 50, (5, 2))
    a = np.deg2rad(23.0)
    sim = np.array([[1.7 * np.cos(a), -1.7 * np.sin(a), 4.0], [1.7 * np.sin(a), 1.7 * np.cos(a), -9.0]])
    np.testing.assert_allclose(estimate_similarity(src, apply_affine(sim, src)), sim, atol=1e-4)
    aff = np.array([[1.2, 0.3, 5.0], [-0.2, 0.8, 2.0]])
    np.testing.assert_allclose(estimate_affine(src, apply_affine(aff, src)), aff, atol=1e-4)
    mirrored = src * np.array([-1.0, 1.0])
    assert np.linalg.det(estimate_similarity(src, mirrored)[:, :2]) > 0


@pytest.mark.parametrize("size,sigma,radius", [(112, 2.0, 6), (32, 4.0, 3)])
def test_rotated_synthetic_face_is_turned_upright(size, sigma, radius):
    canvas = 160
    face = ARCFACE_TEMPLATE_112 + 24.0  # the template, centred in a 160 px image
    img = _draw_dots(canvas, face, sigma)
    rot = cv2.getRotationMatrix2D((canvas / 2 - 0.5, canvas / 2 - 0.5), 30.0, 1.0)
    rotated = cv2.warpAffine(img, rot, (canvas, canvas), flags=cv2.INTER_LINEAR)
    rotated_pts = apply_affine(rot, face)
    assert np.abs(rotated_pts - face).max() > 10  # the rotation really moved the dots

    res = align_faces([rotated], rotated_pts[None], "five", size=size)
    assert not res.flagged[0]
    template = canonical_template(size)
    found = _dot_centres(res.images[0], template, radius)
    assert np.abs(found - template).max() < 0.5


def _face_points() -> np.ndarray:
    return ARCFACE_TEMPLATE_112.copy()


@pytest.mark.parametrize(
    "mutate,reason",
    [
        (lambda p: p.__setitem__((2, 0), np.nan), "non-finite"),
        (lambda p: p.__setitem__(slice(None), np.arange(10, 60, 10)[:, None]), "collinear"),
        (lambda p: p.__setitem__(slice(None), 50.0 + 0.01 * p), "spread"),
        (lambda p: p.__setitem__(1, p[0] + [0.5, 0.0]), "eye distance"),
        (lambda p: p.__setitem__((slice(None), 1), 112 - p[:, 1]), "eyes below the mouth"),
        (lambda p: p.__setitem__(slice(None), p + [500.0, 0.0]), "out of frame"),
        # scattered points: eyes 1.6x the crop apart (-30 and 150 stay within the out-of-frame margin)
        (lambda p: p.__setitem__((slice(0, 2), 0), [-30.0, 150.0]), "exceeds 90% of the 112x112"),
    ],
)
def test_degenerate_points_are_flagged_and_plain_resized(mutate, reason):
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (112, 112, 3), dtype=np.uint8)
    good, bad = _face_points(), _face_points()
    mutate(bad)
    res = align_faces([img, img, img], np.stack([good, good, bad]), "five", size=32)
    assert res.flagged.tolist() == [False, False, True]
    assert res.reasons[0] is None and reason in res.reasons[2]
    np.testing.assert_array_equal(res.images[2], resize_image(img, 32)[0])
    with pytest.raises(ValueError, match=rf"image 2: .*{reason}"):
        align_faces([img, img, img], np.stack([good, good, bad]), "five", size=32, strict=True)


def test_align_accepts_other_schemas():
    img = np.zeros((112, 112, 3), np.uint8)
    aflw = np.zeros((19, 2), np.float32)
    aflw[[7, 10, 13, 15, 17]] = ARCFACE_TEMPLATE_112  # aflw19 -> five: eye centres, nose tip, mouth corners
    res = align_faces(img[None], aflw[None], "aflw19", size=112)
    assert np.abs(apply_affine(res.matrices[0], ARCFACE_TEMPLATE_112) - ARCFACE_TEMPLATE_112).max() < 1e-4


# ---------------------------------------------------------------- protocol

# Gallery g0..g4 with ids A, B, A, C and a distractor. Each probe's feature *is* its similarity row
# against the orthonormal gallery, so the rankings below are exact.
GALLERY_IDS = ["A", "B", "A", "C", None]
PROBES = [
    # id   scores over g0..g4             ranking (gallery index: id)       match ranks  AP
    ("A", [0.9, 0.8, 0.1, 0.3, 0.2]),  # g0:A g1:B g3:C g4:- g2:A         1, 5         (1/1 + 2/5)/2 = 0.7
    ("B", [0.5, 0.2, 0.4, 0.1, 0.9]),  # g4:- g0:A g2:A g1:B g3:C         4            1/4
    ("C", [0.1, 0.6, 0.2, 0.5, 0.05]),  # g1:B g3:C g2:A g0:A g4:-        2            1/2
    ("D", [0.3, 0.3, 0.3, 0.3, 0.3]),  # D has no gallery image: excluded
]


def test_topk_and_map_match_the_hand_computed_example():
    gallery = np.eye(5)
    probe = np.array([s for _, s in PROBES])
    out = identification_scores(probe, [i for i, _ in PROBES], gallery, GALLERY_IDS, ks=(1, 2, 3, 5))
    assert out["top1"] == pytest.approx(100 / 3)
    assert out["top2"] == pytest.approx(200 / 3)
    assert out["top3"] == pytest.approx(200 / 3)
    assert out["top5"] == pytest.approx(100.0)
    np.testing.assert_allclose(out["cmc"], [1 / 3, 2 / 3, 2 / 3, 1, 1])
    assert out["mAP"] == pytest.approx((0.7 + 0.25 + 0.5) / 3)
    assert out["num_probes"] == 3 and out["excluded_probes"] == 1 and out["gallery_size"] == 5


def test_euclidean_metric_and_distractors_never_match():
    gallery = np.array([[0.0], [1.0], [2.0], [3.0]])
    out = identification_scores(
        np.array([[0.1], [2.9]]), ["x", "y"], gallery, [None, "x", None, "y"], metric="euclidean", ks=(1, 2)
    )
    # probe x: nearest g0 (distractor) then g1 (x) -> rank 2; probe y: g3 (y) first -> rank 1
    assert out["top1"] == pytest.approx(50.0) and out["top2"] == pytest.approx(100.0)
    assert out["mAP"] == pytest.approx((0.5 + 1.0) / 2)


def test_scores_match_a_brute_force_ranking_over_many_probe_chunks():
    rng = np.random.default_rng(2)
    gallery_ids = list(rng.integers(0, 20, 60)) + [None] * 10
    probe_ids = list(rng.integers(0, 25, 1100))  # > 2 chunks of 512; ids 20..24 are absent
    gal = np.round(rng.normal(size=(70, 3)), 1)  # rounding makes ties likely
    prb = np.round(rng.normal(size=(1100, 3)), 1)
    out = identification_scores(prb, probe_ids, gal, gallery_ids, metric="euclidean", ks=(1, 5))
    sims = similarity_matrix(prb, gal, "euclidean")  # the same numbers, so ties are the same ties
    firsts, aps = [], []
    for row, pid in zip(sims, probe_ids):
        if pid not in gallery_ids:
            continue
        hits = np.array([gallery_ids[j] == pid for j in np.argsort(-row, kind="stable")])
        ranks = np.flatnonzero(hits) + 1
        firsts.append(ranks[0])
        aps.append(np.mean(np.arange(1, len(ranks) + 1) / ranks))
    assert out["excluded_probes"] == 1100 - len(firsts)
    assert out["top5"] == pytest.approx(100 * np.mean(np.array(firsts) <= 5))
    assert out["mAP"] == pytest.approx(np.mean(aps))


def test_tinyface_protocol_appends_distractors():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(4, 8))
    d = rng.normal(size=(30, 8))
    p = g + 0.01 * rng.normal(size=g.shape)
    ids = ["a", "b", "c", "d"]
    out = tinyface_protocol((p, ids), (g, ids), d)
    ref = identification_scores(p, ids, np.vstack([g, d]), ids + [None] * 30)
    assert out["gallery_size"] == 34 and out["top1"] == ref["top1"] == 100.0 and out["mAP"] == ref["mAP"]


def test_half_split_puts_half_of_each_identity_in_the_probe_set():
    ids = ["s"] + ["t"] * 2 + ["u"] * 3 + ["v"] * 4 + [None]
    probe, gallery = half_split(ids, np.random.default_rng(3))
    assert sorted(np.concatenate([probe, gallery]).tolist()) == list(range(len(ids)))
    count = {k: sum(ids[i] == k for i in probe) for k in "stuv"}
    assert count == {"s": 0, "t": 1, "u": 1, "v": 2}
    assert 10 in gallery  # the id-less image
    p2, _ = half_split(ids, 3)
    np.testing.assert_array_equal(probe, p2)


# ---------------------------------------------------------------- LightCNN


def test_mfm_halves_channels():
    mfm = MFM(3, 8)
    assert mfm.filter.out_channels == 16 and mfm(torch.zeros(1, 3, 5, 5)).shape == (1, 8, 5, 5)


@pytest.mark.parametrize("head", ["softmax", "arcface"])
def test_lightcnn9_forward_backward_at_32(head):
    torch.manual_seed(0)
    arch = LightCNNArch(variant="9", num_classes=5, input_size=32, disabled_pools=2, head=head)
    model = build_lightcnn(arch)
    assert model.arch.feature_size() == 8
    x = torch.randn(4, 1, 32, 32)
    y = torch.tensor([0, 1, 2, 3])
    logits, emb = model(x, y)
    assert logits.shape == (4, 5) and emb.shape == (4, 256)
    torch.nn.functional.cross_entropy(logits, y).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_disabled_pools_keep_resolution():
    a = LightCNNArch(input_size=128, disabled_pools=0)
    b = LightCNNArch(input_size=32, disabled_pools=2)
    assert a.feature_size() == b.feature_size() == 8
    assert LightCNNArch(input_size=32, disabled_pools=0).feature_size() == 2


def test_load_pretrained_strips_module_and_skips_classifier(tmp_path):
    torch.manual_seed(0)
    src = build_lightcnn(LightCNNArch(num_classes=7, in_channels=1))
    path = tmp_path / "lcnn.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}}, path)
    dst = build_lightcnn(LightCNNArch(num_classes=3, in_channels=1))
    with pytest.warns(UserWarning, match="fc2"):
        report = load_pretrained(dst, path)
    assert report["skipped"] == ["fc2.weight", "fc2.bias"]
    torch.testing.assert_close(dst.fc1.filter.weight, src.fc1.filter.weight)
    with pytest.raises(ValueError, match=r"lcnn\.pth.*features\.0\.filter\.weight"):
        load_pretrained(build_lightcnn(LightCNNArch(num_classes=3, in_channels=3)), path)


# ---------------------------------------------------------------- training


COLOURS = np.array([[220, 40, 40], [40, 200, 40], [40, 40, 220], [220, 220, 40]], np.uint8)


def _colour_faces(per_id: int, seed: int) -> tuple[np.ndarray, list[int]]:
    """Identities that differ only by colour, with noise, so a working pipeline separates them."""
    rng = np.random.default_rng(seed)
    imgs, ids = [], []
    for k, colour in enumerate(COLOURS):
        for _ in range(per_id):
            noise = rng.normal(0, 20, (32, 32, 3))
            imgs.append(np.clip(colour.astype(float) + noise, 0, 255).astype(np.uint8))
            ids.append(k)
    return np.stack(imgs), ids


def test_tiny_training_separates_colour_identities():
    train_x, train_y = _colour_faces(6, seed=0)
    cfg = LightCNNConfig(epochs=4, batch_size=8, lr=0.01, in_channels=3, seed=1)
    model, history = train_lightcnn(train_x, train_y, cfg, progress=False)
    assert history["classes"] == [0, 1, 2, 3] and len(history["loss"]) == 4
    # it really learnt: chance is ln 4 = 1.39 and 25 % (random features alone would pass the top-1 below)
    assert history["loss"][-1] < 0.5 and history["accuracy"][-1] == 1.0
    test_x, test_y = _colour_faces(4, seed=1)
    probe, gallery = half_split(test_y, 0)
    feats = extract_features(model, test_x, flip=True)
    assert feats.shape == (16, 256) and np.allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)
    out = identification_scores(feats[probe], [test_y[i] for i in probe], feats[gallery],
                                [test_y[i] for i in gallery])
    assert out["top1"] == 100.0 and out["mAP"] == pytest.approx(1.0)


def test_divergence_and_nan_features_raise():
    x, y = _colour_faces(2, seed=0)
    with pytest.raises(FloatingPointError, match="diverged"):
        train_lightcnn(x, y, LightCNNConfig(epochs=3, batch_size=4, lr=1e6, in_channels=3, optimizer="sgd",
                                           norm="none"), progress=False)
    feats = np.ones((2, 4))
    feats[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        identification_scores(feats[:1], ["a"], feats[1:], ["a"])


class _TemplateDetector:
    """Stands in for a landmark detector: the template everywhere, except NaNs for image 0."""

    schema = "five"

    def predict(self, images):
        pts = np.stack([canonical_template(im.shape[0]) for im in images]).astype(np.float32)
        pts[0] = np.nan if len(pts) > 3 else pts[0]
        return pts, np.ones(pts.shape[:2], np.float32)


def test_evaluate_alignment_setting_runs_end_to_end():
    train_x, train_y = _colour_faces(3, seed=0)
    test_x, test_y = _colour_faces(2, seed=1)
    cfg = LightCNNConfig(epochs=1, batch_size=12, in_channels=3)
    det = _TemplateDetector()
    out = evaluate_alignment_setting(det, list(train_x), train_y, list(test_x), test_y, cfg, progress=False)
    assert out["flagged"] == 2 and out["flagged_train"] == 1 and out["flagged_test"] == 1
    assert {"top1", "top5", "top10", "top20", "mAP", "cmc", "seconds"} <= set(out)
    assert out["num_probes"] == 4 and out["gallery_size"] == 4 and out["num_classes"] == 4
    base = evaluate_alignment_setting(None, train_x, train_y, test_x, test_y, cfg, progress=False)
    assert base["flagged"] == 0


def test_wilson_interval():
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        wilson_interval(3, 0)


# ---------------------------------------------------------------- learning on rendered faces


@pytest.fixture(scope="module")
def ten_rendered_identities():
    """10 renderer identities × 10 faces at 32² (plain resize of the 128² renders)."""
    from s2ld_core.data.render import render_dataset

    fs = render_dataset(range(900_000, 900_010), 10, seed=0)
    faces = np.stack([resize_image(im, 32, interpolation=cv2.INTER_AREA)[0] for im in fs.images])
    return faces, fs.identity.tolist()


def test_lightcnn_overfits_ten_rendered_identities_quickly(ten_rendered_identities):
    """The overfit check behind issue 27 (the study's LightCNN ended at 6.6 % training accuracy): with
    BatchNorm in its MFMs and Adam (the defaults) it must fit 100 faces of 10 identities in 40 steps."""
    x, ids = ten_rendered_identities
    cfg = LightCNNConfig(epochs=8, batch_size=20, disabled_pools=0, dropout=0.0, seed=0)
    model, history = train_lightcnn(x, ids, cfg, progress=False)
    assert history["loss"][-1] < history["loss"][0] / 4
    assert history["eval_accuracy"] >= 0.95, history


def test_batches_never_leave_one_face_alone():
    from s2ld_core.verification.train import batches

    order = torch.arange(65)
    parts = batches(order, 32)
    assert [len(p) for p in parts] == [32, 33] and torch.equal(torch.cat(parts), order)
    assert [len(p) for p in batches(torch.arange(64), 32)] == [32, 32]
    assert [len(p) for p in batches(torch.arange(1), 32)] == [1]
    x, y = _colour_faces(3, seed=0)  # 12 faces, batch 11: the lone 12th joins the first batch
    _, history = train_lightcnn(x[:12], y[:12], LightCNNConfig(epochs=1, batch_size=11, in_channels=3),
                                progress=False)
    assert len(history["loss"]) == 1


def test_pretrained_arch_reads_recorded_and_inferred_layouts(tmp_path):
    from s2ld_core.verification.lightcnn import pretrained_arch

    torch.manual_seed(0)
    bn = build_lightcnn(LightCNNArch(num_classes=3, disabled_pools=0, norm="batch"))
    torch.save(bn.state_dict(), tmp_path / "bn.pt")
    assert pretrained_arch(tmp_path / "bn.pt") == {"variant": "9", "in_channels": 1, "disabled_pools": 0,
                                                   "norm": "batch"}
    authors = build_lightcnn(LightCNNArch(num_classes=3, disabled_pools=2))  # the paper's 8×8 fc1
    torch.save({"state_dict": {f"module.{k}": v for k, v in authors.state_dict().items()}}, tmp_path / "a.pt")
    assert pretrained_arch(tmp_path / "a.pt") == {"variant": "9", "in_channels": 1, "disabled_pools": 2,
                                                  "norm": "none"}
    assert pretrained_arch(tmp_path / "a.pt", input_size=128)["disabled_pools"] == 0
    recorded = {"kind": "s2ld-lightcnn", "arch": {**LightCNNArch(disabled_pools=0, norm="batch").__dict__},
                "state_dict": bn.state_dict()}
    torch.save(recorded, tmp_path / "r.pt")
    assert pretrained_arch(tmp_path / "r.pt")["pixel_range"] == "signed"
    # a BatchNorm net loads its own weights and reproduces its embeddings
    arch = {k: v for k, v in pretrained_arch(tmp_path / "r.pt").items() if k != "pixel_range"}
    cfg = LightCNNConfig(epochs=1, **arch)
    fresh = build_lightcnn(cfg.arch(5))
    with pytest.warns(UserWarning, match="fc2"):  # 3 classes there, 5 here
        load_pretrained(fresh, tmp_path / "r.pt")
    x = torch.randn(3, 1, 32, 32)
    torch.testing.assert_close(fresh.eval().embed(x), bn.eval().embed(x))


def test_shipped_lightcnn_loads_and_records_how_it_was_made():
    from s2ld_core.checkpoints import safe_torch_load
    from s2ld_core.verification.lightcnn import SHIPPED_LIGHTCNN, pretrained_arch, shipped_lightcnn

    path = shipped_lightcnn()
    assert path == SHIPPED_LIGHTCNN and path.stat().st_size < 8_000_000
    blob = safe_torch_load(path, what="LightCNN")
    assert blob["kind"] == "s2ld-lightcnn" and "scripts/train_lightcnn.py" in blob["recipe"]["script"]
    assert not any(k.startswith(("fc2.", "head.")) for k in blob["state_dict"])  # no classifier shipped
    assert blob["metrics"]["train_accuracy"] >= 0.9 and blob["metrics"]["num_probes"] >= 400
    arch = pretrained_arch(path)
    model = build_lightcnn(LightCNNConfig(**arch).arch(7))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no classifier in the file: nothing to warn about
        report = load_pretrained(model, path)
    assert report["skipped"] == ["fc2.weight", "fc2.bias"]
    emb = model.eval().embed(torch.zeros(2, 1, 32, 32))
    assert emb.shape == (2, 256) and torch.isfinite(emb).all()


def test_train_lightcnn_script_trains_resumes_and_ships(tmp_path, capsys, monkeypatch):
    """scripts/train_lightcnn.py end to end at toy size: a resumable checkpoint per epoch, and the
    shipped file (float16 backbone, no classifier) loads through pretrained_arch/load_pretrained."""
    import importlib.util
    import sys
    from pathlib import Path

    from s2ld_core.checkpoints import safe_torch_load
    from s2ld_core.verification.lightcnn import pretrained_arch

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("train_lightcnn", root / "scripts" / "train_lightcnn.py")
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "train_lightcnn", script)  # its dataclass looks itself up there
    spec.loader.exec_module(script)
    out, work = tmp_path / "w.pt", tmp_path / "work"
    argv = ["--out", str(out), "--work", str(work), "--identities", "4", "--images-per-identity", "3",
            "--views", "1", "--heldout-identities", "3", "--heldout-images", "2", "--target-identities", "3",
            "--batch-size", "6", "--epochs", "1"]
    assert script.main(argv) == 0
    assert safe_torch_load(work / "checkpoint.pt")["epoch"] == 1
    assert script.main([*argv[:-1], "2", "--resume"]) == 0
    assert "resumed after epoch 1" in capsys.readouterr().out
    blob = safe_torch_load(out)
    assert blob["metrics"]["num_probes"] == 3 and blob["recipe"]["epochs"] == 2
    assert all(v.dtype == torch.float16 for v in blob["state_dict"].values() if v.is_floating_point())
    model = build_lightcnn(LightCNNConfig(**pretrained_arch(out)).arch(4))
    assert load_pretrained(model, out)["skipped"] == ["fc2.weight", "fc2.bias"]
