"""The procedural face renderer: exact labels, determinism, identities, visibility, caching."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from s2ld_core.data.face_model import Pose, rotation_matrix
from s2ld_core.data.render import (
    FaceSet,
    RenderConfig,
    catmull_rom,
    image_rng,
    render_dataset,
    render_face,
    sample_identity,
    save_preview,
)

# Near-frontal, flat-lit, uncluttered, unoccluded: pixel colours can be read against the skin tone.
PLAIN = RenderConfig.plain(yaw_range=(-15, 15), pitch_range=(-10, 10), roll_range=(-15, 15))
JAW, EYES, BROWS = np.arange(17), np.arange(36, 48), np.arange(17, 27)


def _pixel(img: np.ndarray, p: np.ndarray) -> np.ndarray:
    return img[int(round(p[1])), int(round(p[0]))].astype(np.float64)


def _diff(a: np.ndarray, b) -> float:
    return float(np.abs(a - np.asarray(b, np.float64)).max())


@pytest.fixture(scope="module")
def plain_faces():
    """(identity, face) for 16 people in near-frontal, plain renders."""
    return [
        (sample_identity(i), render_face(sample_identity(i), image_rng(3, i, 0), PLAIN)) for i in range(16)
    ]


# ----------------------------------------------------------------------------- basics


def test_shapes_and_dtypes():
    face = render_face(sample_identity(5), np.random.default_rng(0))
    assert face.image.shape == (128, 128, 3) and face.image.dtype == np.uint8
    assert face.points.shape == (68, 2) and face.points.dtype == np.float32
    assert face.visible.shape == (68,) and face.visible.dtype == bool
    assert face.identity_id == 5
    for key in ("yaw", "pitch", "roll", "mouth_open", "smile", "brow_raise", "squint", "occluders"):
        assert key in face.params
    fs = render_dataset([7, 3], 2, seed=1)
    assert len(fs) == 4
    assert fs.images.shape == (4, 128, 128, 3) and fs.images.dtype == np.uint8
    assert fs.points.shape == (4, 68, 2) and fs.points.dtype == np.float32
    assert fs.visible.shape == (4, 68) and fs.visible.dtype == bool
    assert fs.identity.dtype == np.int64 and fs.identity.tolist() == [7, 7, 3, 3]


def test_other_sizes_scale_the_crop():
    face = render_face(sample_identity(1), np.random.default_rng(2), RenderConfig(size=64, supersample=1))
    assert face.image.shape == (64, 64, 3)
    assert face.points.min() >= 0 and face.points.max() <= 63


def test_catmull_rom_passes_through_every_point():
    """Drawn contours go exactly through the landmarks; this is what makes the labels exact."""
    pts = np.random.default_rng(0).uniform(0, 100, (7, 2))
    for closed in (False, True):
        curve = catmull_rom(pts, 5, closed=closed)
        assert np.allclose(curve[::5][:7], pts)


# ----------------------------------------------------------------------------- determinism


def test_same_seed_same_bytes_and_different_seed_differs():
    a = render_dataset(range(3), 2, seed=11)
    b = render_dataset(range(3), 2, seed=11)
    c = render_dataset(range(3), 2, seed=12)
    assert a.images.tobytes() == b.images.tobytes()
    assert a.points.tobytes() == b.points.tobytes() and np.array_equal(a.visible, b.visible)
    assert a.images.tobytes() != c.images.tobytes()
    assert not np.allclose(a.points, c.points)


def test_a_subset_renders_identically():
    full = render_dataset([4, 9, 2], 3, seed=5)
    part = render_dataset([9], 3, seed=5)
    rows = np.flatnonzero(full.identity == 9)
    assert np.array_equal(full.images[rows], part.images)
    assert np.array_equal(full.points[rows], part.points)


# ----------------------------------------------------------------------------- identities


def test_identity_is_persistent_and_distinct():
    assert sample_identity(3) == sample_identity(3)
    assert sample_identity(3, seed=1) == sample_identity(3, seed=1)
    assert sample_identity(3) != sample_identity(4)
    assert sample_identity(3) != sample_identity(3, seed=1)
    a, b = sample_identity(3).shape_vector(), sample_identity(4).shape_vector()
    assert np.abs(a - b).max() > 0.05


def test_the_geometry_belongs_to_the_identity():
    """With pose, expression and framing fixed, two photos of one person have the same points
    (only light, background, gaze... differ); another person's points differ."""
    fixed = RenderConfig.plain(
        yaw_range=(0, 0),
        pitch_range=(0, 0),
        roll_range=(0, 0),
        box_fraction=(0.7, 0.7),
        center_jitter=0.0,
        mouth_open_prob=0.0,
        smile_prob=0.0,
        brow_raise_prob=0.0,
        squint_prob=0.0,
    )
    a1 = render_face(sample_identity(6), image_rng(0, 6, 0), fixed)
    a2 = render_face(sample_identity(6), image_rng(0, 6, 1), fixed)
    b = render_face(sample_identity(7), image_rng(0, 7, 0), fixed)
    assert np.allclose(a1.points, a2.points, atol=1e-4)
    assert not np.array_equal(a1.image, a2.image)
    assert np.abs(a1.points - b.points).max() > 2.0


def test_population_is_varied():
    people = [sample_identity(i) for i in range(200)]
    skin = np.array([p.skin_rgb for p in people]).mean(axis=1)
    assert skin.max() - skin.min() > 100  # light to dark complexions
    assert len({p.hair_style for p in people}) >= 6
    assert len({p.facial_hair for p in people}) >= 4
    widths = np.array([p.face_width for p in people])
    assert widths.std() > 0.04


# ----------------------------------------------------------------------------- framing


def test_points_inside_the_image_and_box_like_a_face_crop():
    fs = render_dataset(range(30), 1, seed=2)
    assert fs.points.min() >= 0.0 and fs.points.max() <= 127.0
    side = (fs.points.max(axis=1) - fs.points.min(axis=1)).max(axis=1) / 128.0
    assert side.min() >= 0.58 and side.max() <= 0.77
    centre = (fs.points.max(axis=1) + fs.points.min(axis=1)) / 2.0
    assert np.abs(centre - 63.5).max() <= 0.04 * 128 + 1


def test_pose_rotation_conventions():
    """yaw > 0 moves the nose to the image right; pitch > 0 looks down; roll > 0 is counter-clockwise."""
    nose = np.array([0.0, 0.0, 1.0])
    assert (rotation_matrix(Pose(yaw=30)) @ nose)[0] > 0.4
    assert (rotation_matrix(Pose(pitch=30)) @ nose)[1] > 0.4
    right = np.array([1.0, 0.0, 0.0])
    assert (rotation_matrix(Pose(roll=30)) @ right)[1] < -0.4  # y is down: the right side goes up
    base = render_face(sample_identity(2), image_rng(0, 2, 0), replace(PLAIN, yaw_range=(0, 0)))
    turned = render_face(sample_identity(2), image_rng(0, 2, 0), replace(PLAIN, yaw_range=(30, 30)))
    # nose tip relative to the eye-corner midpoint
    rel = lambda f: f.points[30, 0] - (f.points[36, 0] + f.points[45, 0]) / 2  # noqa: E731
    assert rel(turned) - rel(base) > 5


# ----------------------------------------------------------------------------- labels on features


def test_plain_render_shows_the_identity_skin(plain_faces):
    """Flat light: mid-cheek pixels are exactly the skin tone (the reference for the checks below)."""
    for idn, f in plain_faces:
        for a, b in ((36, 48), (45, 54)):
            assert _diff(_pixel(f.image, (f.points[a] + f.points[b]) / 2), idn.skin_rgb) <= 3


def test_eye_contour_points_lie_on_the_drawn_eye(plain_faces):
    for idn, f in plain_faces:
        d = [_diff(_pixel(f.image, f.points[k]), idn.skin_rgb) for k in EYES]
        assert min(d) > 30, (idn.identity_id, d)


def test_mouth_corners_lie_on_the_lips(plain_faces):
    for idn, f in plain_faces:
        for k in (48, 54):
            c = _pixel(f.image, f.points[k])
            assert _diff(c, idn.skin_rgb) > 30, idn.identity_id
            assert c.sum() < np.sum(idn.skin_rgb)  # lip line / corner shadow: darker than skin


def test_brow_points_lie_on_the_brows(plain_faces):
    for idn, f in plain_faces:
        d = [_pixel(f.image, f.points[k]).sum() for k in BROWS]
        assert max(d) < np.sum(idn.skin_rgb) - 15, idn.identity_id


def test_jaw_points_lie_on_the_face_outline(plain_faces):
    """Just inside the jaw point and just outside it, colours differ (face vs neck/background)."""
    passed = total = 0
    for idn, f in plain_faces:
        p = f.points
        centre = p.mean(axis=0)
        for k in range(3, 14):
            d = (p[k] - centre) / np.linalg.norm(p[k] - centre)
            inside, outside = _pixel(f.image, p[k] - 2.5 * d), _pixel(f.image, p[k] + 2.5 * d)
            ok = _diff(inside, outside) > 15
            passed += ok
            total += 1
            if idn.facial_hair == "none":
                assert _diff(inside, idn.skin_rgb) <= 6, (idn.identity_id, k)  # inside is skin
    assert passed / total > 0.9


def test_points_move_off_features_would_fail(plain_faces):
    """Sanity for the checks above: shifting the eye points into the cheek breaks them."""
    idn, f = plain_faces[0]
    shifted = f.points[EYES] + (f.points[48] - f.points[36]) * 0.5
    d = [_diff(_pixel(f.image, q), idn.skin_rgb) for q in shifted]
    assert min(d) <= 30


# ----------------------------------------------------------------------------- visibility


@pytest.mark.parametrize(
    "yaw, far, near", [(60, slice(13, 17), slice(0, 6)), (-60, slice(0, 4), slice(11, 17))]
)
def test_strong_yaw_hides_far_jaw(yaw, far, near):
    cfg = replace(PLAIN, yaw_range=(yaw, yaw), pitch_range=(0, 0), roll_range=(0, 0))
    for i in range(4):
        f = render_face(sample_identity(i), image_rng(0, i, 0), cfg)
        assert not f.visible[far].any(), i
        assert f.visible[near].all(), i


def test_frontal_plain_face_is_fully_visible(plain_faces):
    for _, f in plain_faces:
        assert f.visible.all()


def test_occluders_hide_points_but_keep_their_coordinates():
    base = replace(PLAIN, yaw_range=(0, 0))
    hidden = 0
    for i in range(8):
        clean = render_face(sample_identity(i), image_rng(4, i, 0), base)
        hand = render_face(sample_identity(i), image_rng(4, i, 0), replace(base, hand_prob=1.0))
        assert "hand" in hand.params["occluders"]
        assert np.array_equal(clean.points, hand.points)  # true locations, occluded or not
        assert not (hand.visible & ~clean.visible).any()
        hidden += int((clean.visible & ~hand.visible).sum())
    assert hidden >= 8


def test_sunglasses_or_frames_hide_eye_points_sometimes():
    cfg = replace(PLAIN, glasses_prob=1.0)
    faces = [render_face(sample_identity(i), image_rng(5, i, 0), cfg) for i in range(10)]
    assert all("glasses" in f.params["occluders"] for f in faces)
    assert sum(int((~f.visible[36:48]).sum()) for f in faces) > 0


# ----------------------------------------------------------------------------- cache and preview


def test_faceset_npz_round_trip_subset_len(tmp_path):
    fs = render_dataset([1, 2], 2, seed=3)
    path = fs.save_npz(tmp_path / "cache" / "faces.npz")
    assert [p.name for p in path.parent.iterdir()] == ["faces.npz"]  # no temp file left behind
    back = FaceSet.load_npz(path)
    for name in ("images", "points", "visible", "identity"):
        assert np.array_equal(getattr(back, name), getattr(fs, name))
        assert getattr(back, name).dtype == getattr(fs, name).dtype
    sub = back.subset([3, 0])
    assert len(sub) == 2 and sub.identity.tolist() == [2, 1]
    assert np.array_equal(sub.images[1], fs.images[0])


def test_preview_png(tmp_path):
    out = save_preview(tmp_path / "preview.png", n=4, cols=2)
    img = cv2.imread(str(out))
    assert img is not None and img.shape[1] == 2 * 256 + 3 * 4


# ----------------------------------------------------------------------------- the photo-like style (v2)


PLAIN_V2 = replace(PLAIN, style="v2")


@pytest.fixture(scope="module")
def plain_faces_v2():
    from s2ld_core.data.render_photo import photo_identity

    # v2 paints the person with photo_identity's colours (warmer skin); the reference is that skin
    return [
        (photo_identity(sample_identity(i)), render_face(sample_identity(i), image_rng(3, i, 0), PLAIN_V2))
        for i in range(16)
    ]


def test_v1_stays_the_default_style():
    assert RenderConfig().style == "v1"
    with pytest.raises(ValueError, match="style"):
        render_face(sample_identity(0), np.random.default_rng(0), RenderConfig(style="v9"))


def test_v2_is_deterministic_and_differs_from_v1():
    cfg = RenderConfig(style="v2")
    a = render_dataset(range(3), 2, seed=11, config=cfg)
    b = render_dataset(range(3), 2, seed=11, config=cfg)
    old = render_dataset(range(3), 2, seed=11)
    assert a.images.tobytes() == b.images.tobytes() and np.array_equal(a.visible, b.visible)
    assert a.images.tobytes() != old.images.tobytes()
    # the style paints differently, but the scene, the geometry and so the points are the same
    assert np.array_equal(a.points, old.points)


def test_v2_same_points_and_visibility_as_v1_without_occluders(plain_faces):
    """Only appearance differs between the styles: with no occluders, labels are identical."""
    cfg = replace(RenderConfig(style="v2"), glasses_prob=0.0, fringe_prob=0.0, hand_prob=0.0)
    for i in range(6):
        new = render_face(sample_identity(i), image_rng(8, i, 0), cfg)
        old = render_face(sample_identity(i), image_rng(8, i, 0), replace(cfg, style="v1"))
        assert np.array_equal(new.points, old.points) and np.array_equal(new.visible, old.visible)


def test_v2_points_lie_on_the_drawn_features(plain_faces_v2):
    """The checks of the drawn style, on the photo-like one: eye points off the skin, mouth corners
    darker than skin, brow points darker than skin; shifting the eye points into the cheek fails."""
    for idn, f in plain_faces_v2:
        skin = np.sum(idn.skin_rgb)
        for a, b in ((36, 48), (45, 54)):
            assert _diff(_pixel(f.image, (f.points[a] + f.points[b]) / 2), idn.skin_rgb) <= 3
        assert min(_diff(_pixel(f.image, f.points[k]), idn.skin_rgb) for k in EYES) > 30, idn.identity_id
        for k in (48, 54):
            assert _pixel(f.image, f.points[k]).sum() < skin - 30, idn.identity_id
        assert max(_pixel(f.image, f.points[k]).sum() for k in BROWS) < skin - 15, idn.identity_id
    idn, f = plain_faces_v2[0]
    shifted = f.points[EYES] + (f.points[48] - f.points[36]) * 0.5
    assert min(_diff(_pixel(f.image, q), idn.skin_rgb) for q in shifted) <= 30


def test_v2_backgrounds_are_photographs():
    from s2ld_core.data.render_photo import background_photos, photo_background

    assert len(background_photos()) >= 8
    a = photo_background(np.random.default_rng(1), 32, 2)
    b = photo_background(np.random.default_rng(1), 32, 2)
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert a.std() > 1.0  # not a flat fill


def test_v2_identity_appearance_persists():
    """Two photos of one person (v2) are closer in the face's mean colour than photos of two people."""
    cfg = replace(RenderConfig.plain(style="v2"), yaw_range=(-10, 10), roll_range=(-5, 5))

    def skin_patch(i, k):
        f = render_face(sample_identity(i), image_rng(2, i, k), cfg)
        c = ((f.points[36] + f.points[48]) / 2).round().astype(int)
        return f.image[c[1] - 1 : c[1] + 2, c[0] - 1 : c[0] + 2].reshape(-1, 3).mean(0)

    same = [np.abs(skin_patch(i, 0) - skin_patch(i, 1)).sum() for i in range(6)]
    other = [np.abs(skin_patch(i, 0) - skin_patch(i + 1, 0)).sum() for i in range(6)]
    assert np.mean(same) < np.mean(other)
