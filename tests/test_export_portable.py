"""COCO exports travel: file names relative to the exported folder, coordinates to 1/1000 px."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np

from annotator.store import AnnotationStore, place_next
from s2ld_core.data.formats import read_coco_keypoints, write_coco_keypoints

NOISY = [(8.708333015441895, 9.1), (12.0625, 9.0), (10.0, 12.333333333333334), (8.0, 15.5), (12.0, 15.5)]


def _annotated_folder(root):
    (root / "sub").mkdir(parents=True)
    for key in ("a.png", "sub/b.png"):
        assert cv2.imwrite(str(root / key), np.full((20, 20, 3), 90, np.uint8))
    store = AnnotationStore.open(root, "five", "ann")
    for key in ("a.png", "sub/b.png"):
        for x, y in NOISY:
            store.modify(key, lambda a, x=x, y=y: place_next(a, x, y))
    return store


def _decimals_ok(values) -> bool:
    return all(round(v, 3) == v for v in values)


def test_default_export_is_relative_and_survives_moving_the_tree(tmp_path):
    store = _annotated_folder(tmp_path / "faces")
    path = store.export_coco()
    doc = json.loads(path.read_text())
    assert [im["file_name"] for im in doc["images"]] == ["../a.png", "../sub/b.png"]
    ann = doc["annotations"][0]
    assert ann["keypoints"][:6] == [8.708, 9.1, 2, 12.062, 9.0, 2] and ann["keypoints"][7] == 12.333
    assert _decimals_ok(ann["keypoints"] + ann["bbox"] + [ann["area"]])
    assert str(tmp_path) not in path.read_text()  # nothing machine-specific in the file

    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(tmp_path / "faces", moved)
    moved_json = moved / "annotations" / path.name
    for im in json.loads(moved_json.read_text())["images"]:
        assert (moved_json.parent / im["file_name"]).is_file()
    back = read_coco_keypoints(moved_json, "five", image_root=moved)
    assert sorted(back.images) == ["a.png", "sub/b.png"]
    np.testing.assert_allclose(back.images["a.png"].points_array(), np.array(NOISY, np.float32), atol=5e-4)


def test_export_to_another_folder_and_relative_roots(tmp_path):
    store = _annotated_folder(tmp_path / "faces")
    out = tmp_path / "exports" / "coco.json"
    doc = json.loads(store.export_coco(out).read_text())
    assert [im["file_name"] for im in doc["images"]] == ["../faces/a.png", "../faces/sub/b.png"]
    keys = ["a.png", "sub/b.png"]
    assert sorted(read_coco_keypoints(out, "five", image_root=tmp_path / "faces").images) == keys
    # a relative image root is already relative to the export folder: kept as written
    rel = write_coco_keypoints(tmp_path / "rel.json", store.aset, image_root="faces")
    assert [im["file_name"] for im in json.loads(rel.read_text())["images"]] == [f"faces/{k}" for k in keys]
    assert sorted(read_coco_keypoints(rel, "five", image_root="faces").images) == keys
