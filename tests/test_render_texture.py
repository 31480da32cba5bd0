"""Real LFW skin on rendered geometry (style v3): the warp, the labels it must not touch, the pool."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from s2ld_core.data import render_texture
from s2ld_core.data.render import RenderConfig, image_rng, render_dataset, render_face, sample_identity
from s2ld_core.data.render_texture import forehead_anchors, texture_pool, warp_texture


def _face_points() -> np.ndarray:
    return render_face(sample_identity(2), image_rng(0, 2, 0), RenderConfig.plain()).points * 2.0


def test_warp_is_exact_for_an_affine_map():
    """A texture that is a linear ramp, warped by a scale-and-shift, must equal the ramp read through
    that map at every covered pixel (each triangle's affine is then that map)."""
    dst = _face_points()  # 256² canvas coordinates
    scale, shift = np.array([0.11, 0.13]), np.array([-2.0, 1.5])
    src = dst * scale + shift
    yy, xx = np.mgrid[0:40, 0:40].astype(np.float32)
    ramp = 0.2 + 0.01 * xx + 0.015 * yy
    warped, covered = warp_texture(ramp, src, dst, (256, 256))
    ys, xs = np.nonzero(covered)
    expect = 0.2 + 0.01 * (xs * scale[0] + shift[0]) + 0.015 * (ys * scale[1] + shift[1])
    assert covered.sum() > 5000
    # OpenCV samples at 1/32 px and bicubic reads replicated border pixels: 0.2 px of the ramp's slope
    assert np.abs(warped[ys, xs] - expect).max() < 3e-3
    assert (warped[~covered] == 0).all()
    # the covered region is the hull of the points and forehead anchors: every point is inside it
    for x, y in np.round(np.vstack([dst, forehead_anchors(dst)])).astype(int):
        assert covered[min(y, 255), min(x, 255)] or not (0 <= x < 256 and 0 <= y < 256)


def test_triangle_affines_solve_each_triangle_and_zero_a_degenerate_one():
    rng = np.random.default_rng(3)
    dst, src = rng.uniform(0, 50, (6, 2)), rng.uniform(0, 25, (6, 2))
    dst[5] = (dst[0] + dst[1]) / 2  # triangle (0, 1, 5) is a line
    triangles = np.array([[0, 1, 2], [2, 3, 4], [1, 4, 3], [0, 1, 5]])
    affines = render_texture._triangle_affines(dst, src, triangles)
    for tri, (a, b, c, d, e, f) in zip(triangles[:3], affines[:3]):
        mapped = np.stack([a * dst[tri, 0] + b * dst[tri, 1] + c, d * dst[tri, 0] + e * dst[tri, 1] + f], 1)
        np.testing.assert_allclose(mapped, src[tri], atol=1e-9)
    np.testing.assert_array_equal(affines[3], 0.0)


def test_forehead_anchors_sit_above_the_brows():
    p = _face_points()
    up = forehead_anchors(p) - p[17:27]
    assert (up[:, 1] < 0).all()  # image y grows downwards: the anchors are higher on the face


def test_v3_keeps_v1_labels_and_scene_and_only_paints_the_face():
    """With the drawn light kept (texture_light 1), v3 differs from v1 only on the face."""
    cfg = RenderConfig(style="v3", texture_light=1.0)
    a = render_dataset(range(4), 2, seed=5, config=cfg)
    b = render_dataset(range(4), 2, seed=5, config=cfg)
    old = render_dataset(range(4), 2, seed=5)
    assert a.images.tobytes() == b.images.tobytes()
    assert np.array_equal(a.points, old.points) and np.array_equal(a.visible, old.visible)
    for new, was, pts in zip(a.images, old.images, a.points):
        # contrast is set around the image's mean, so the rest may move by a grey level or two
        changed = np.abs(new.astype(int) - was.astype(int)).max(axis=2) > 6
        assert changed.sum() > 200  # the face was repainted
        lo, hi = pts.min(0) - 0.3 * np.ptp(pts, 0), pts.max(0) + 0.3 * np.ptp(pts, 0)
        ys, xs = np.nonzero(changed)
        assert (xs >= lo[0]).all() and (xs <= hi[0]).all() and (ys >= lo[1]).all() and (ys <= hi[1]).all()


def test_texture_light_zero_leaves_the_photo_its_own_light():
    """The default turns the drawn shading off on textured images (the photo was lit already): the
    labels stay, the pixels change."""
    lit = render_dataset(range(3), 1, seed=5, config=RenderConfig(style="v3", texture_light=1.0))
    unlit = render_dataset(range(3), 1, seed=5, config=RenderConfig(style="v3"))
    assert RenderConfig().texture_light == 0.0
    assert np.array_equal(lit.points, unlit.points) and not np.array_equal(lit.images, unlit.images)


def test_texture_prob_zero_is_v1_byte_for_byte():
    cfg = RenderConfig(style="v3", texture_prob=0.0)
    a = render_dataset(range(3), 1, seed=9, config=cfg)
    old = render_dataset(range(3), 1, seed=9)
    assert a.images.tobytes() == old.images.tobytes()


def test_texture_prob_textures_about_that_share():
    cfg = RenderConfig(style="v3", texture_prob=0.5)
    textured = [render_face(sample_identity(i), image_rng(1, i, 0), cfg).params["textured"]
                for i in range(40)]
    assert 10 <= sum(textured) <= 30


def test_the_pool_holds_face_shaped_points_on_lfw():
    pool = texture_pool()
    assert len(pool) == 100 and pool.images.shape == (100, 25, 25) and "ibug68" in pool.labelled_by
    eyes, mouth = pool.points[:, 36:48].mean(1), pool.points[:, 48:68].mean(1)
    assert (eyes[:, 1] < mouth[:, 1] - 3).all()  # eyes well above the mouth on every face
    assert (pool.points > -3).all() and (pool.points < 28).all()


def test_pool_subsets_and_bad_indices():
    sub = texture_pool((3, 1, 3))
    # a list (as a config file gives) renders like the tuple
    as_list = replace(RenderConfig(style="v3"), texture_faces=[5])
    as_tuple = replace(RenderConfig(style="v3"), texture_faces=(5,))
    one = render_face(sample_identity(1), image_rng(0, 1, 0), as_list).image
    assert np.array_equal(one, render_face(sample_identity(1), image_rng(0, 1, 0), as_tuple).image)
    assert list(sub.index) == [1, 3] and np.array_equal(sub.images[1], texture_pool().images[3])
    with pytest.raises(ValueError, match="texture_faces"):
        texture_pool((100,))
    with pytest.raises(ValueError, match="texture_faces"):
        render_face(sample_identity(0), image_rng(0, 0, 0),
                    replace(RenderConfig(style="v3"), texture_faces=()))


def test_missing_points_file_says_how_to_make_it(tmp_path, monkeypatch):
    monkeypatch.setattr(render_texture, "POINTS_FILE", tmp_path / "missing.npz")
    render_texture._full_pool.cache_clear()
    render_texture.texture_pool.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match="label_texture_pool.py"):
            texture_pool()
    finally:
        render_texture._full_pool.cache_clear()
        render_texture.texture_pool.cache_clear()


def test_two_workers_render_the_same_bytes():
    cfg = RenderConfig(style="v3")
    one = render_dataset(range(6), 2, seed=4, config=cfg)
    two = render_dataset(range(6), 2, seed=4, config=cfg, workers=2)
    assert one.images.tobytes() == two.images.tobytes()
    assert np.array_equal(one.points, two.points) and np.array_equal(one.identity, two.identity)


def test_data_config_paints_only_the_training_faces_in_v3(tmp_path):
    from s2ld_core.data.config import DataConfig
    from s2ld_core.data.datasets import embedded_train_hr

    small = dict(schema="ibug68", embedded_train_identities=3, embedded_images_per_identity=2,
                 cache_dir=str(tmp_path))
    v1 = embedded_train_hr(DataConfig(**small), progress=False)
    v3 = embedded_train_hr(DataConfig(**small, render_style="v3"), progress=False)
    assert np.array_equal(v1.points, v3.points) and not np.array_equal(v1.images, v3.images)
    assert len(list(tmp_path.rglob("train-hr-*.npz"))) == 2  # two cache entries, one per style


def _donor_folder(tmp_path, n: int = 3):
    """A 300-W folder of colour donors: v1 renders (tinted red) with their own points."""
    from s2ld_core.data.formats.pts import write_pts

    faces = render_dataset(range(700, 700 + n), 1, seed=2, config=RenderConfig.plain())
    for k, (im, pts) in enumerate(zip(faces.images, faces.points)):
        red = im.copy()
        red[..., 1:] //= 2
        big = cv2.resize(red, (256, 256), interpolation=cv2.INTER_CUBIC)  # larger than the pool's crops
        cv2.imwrite(str(tmp_path / f"photo{k}__f0.png"), cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
        write_pts(tmp_path / f"photo{k}__f0.pts", (pts + 0.5) * 2 - 0.5)
    return tmp_path


def test_a_folder_pool_is_colour_framed_like_the_training_crops(tmp_path):
    pool = render_texture.folder_texture_pool(_donor_folder(tmp_path))
    size = render_texture.FOLDER_TEXTURE_SIZE
    assert pool.images.shape == (3, size, size, 3) and pool.images.dtype == np.uint8
    assert pool.names == ("photo0__f0", "photo1__f0", "photo2__f0") and list(pool.index) == [0, 1, 2]
    lo, hi = pool.points.min(1), pool.points.max(1)
    assert np.allclose((hi - lo).max(1), 0.68 * size, atol=0.5)  # landmark box 68 % of the side
    assert np.allclose((lo + hi) / 2, (size - 1) / 2, atol=0.5)  # centred
    assert pool.skin_levels.shape == (3, 3) and (pool.skin_levels[:, 0] > pool.skin_levels[:, 1]).all()
    assert list(render_texture.folder_texture_pool(tmp_path, (2, 0)).names) == ["photo0__f0", "photo2__f0"]
    with pytest.raises(ValueError, match="texture_faces"):
        render_texture.folder_texture_pool(tmp_path, (3,))
    with pytest.raises(ValueError, match="no .pts"):
        render_texture.folder_texture_pool(tmp_path / "..")


def test_texture_source_paints_other_pixels_on_the_same_points(tmp_path):
    folder = _donor_folder(tmp_path)
    lfw = render_dataset(range(4), 2, seed=5, config=RenderConfig(style="v3"))
    real = render_dataset(range(4), 2, seed=5, config=RenderConfig(style="v3", texture_source=str(folder)))
    again = render_dataset(range(4), 2, seed=5, config=RenderConfig(style="v3", texture_source=str(folder)))
    assert np.array_equal(lfw.points, real.points) and np.array_equal(lfw.visible, real.visible)
    assert real.images.tobytes() == again.images.tobytes()
    for a, b in zip(lfw.images, real.images):
        assert (np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 6).sum() > 200  # repainted face
    with pytest.raises(FileNotFoundError, match="texture_source"):
        render_dataset(range(1), 1, seed=0,
                       config=RenderConfig(style="v3", texture_source=str(tmp_path / "absent")))
