"""The standard evaluation suite: the faces every trained detector is scored on outside the study,
built in one place with the seeds it owns (``scripts/train_weights.py`` chooses and scores on it,
``benchmarks/bench_shipped.py`` re-scores the shipped weights on it, and the study's G1-generated
test draws G1's noise the same way).

Validation sets choose (the rendered one: renderer identities of their own through the camera family;
with ``real_val``, held-out photos' real faces at native 32² and through the camera family); the test
sets only score (the embedded target-LR test, its HR faces through G1, dlib's PASCAL faces when the
third-party folder is present).
"""

from __future__ import annotations

from pathlib import Path

from .data.datasets import LabelledFaces

VALIDATION = "validation (rendered, camera family)"
REAL_VALIDATION = "real validation, native"
REAL_VALIDATION_CAMERA = "real validation, camera family"
VALIDATION_SETS = (VALIDATION, REAL_VALIDATION, REAL_VALIDATION_CAMERA)
TARGET_TEST = "target-LR test (rendered, held-out camera)"
G1_TEST = "G1-generated test"
PASCAL_NATIVE = "PASCAL faces, native"
PASCAL_CAMERA = "PASCAL faces, target camera"

# G1's noise for the generated test draws from seed + this, so it never repeats the noise of a
# training run with the same seed
G1_TEST_SEED_OFFSET = 11


def generated_test(g1: str | Path, hr: LabelledFaces, seed: int = 0, device="cpu") -> LabelledFaces:
    """Table 1's first row: the held-out HR faces ``hr`` through G1, with the suite's noise seed."""
    from .inference.g1 import generated_faces

    return generated_faces(g1, hr, seed + G1_TEST_SEED_OFFSET, device=device)


def standard_sets(schema: str, seed: int = 0, g1: str | Path | None = None, real_val: str | None = None,
                  progress: bool = True) -> dict[str, LabelledFaces]:
    """The suite in ``schema``, by name (the constants above): validation, real validation (with
    ``real_val``, a 300-W folder), the target-LR test, the G1-generated test (with ``g1``) and the
    PASCAL faces (when ``s2ld_core.data.external`` finds them; skipped otherwise)."""
    from .data.config import DataConfig
    from .data.datasets import (
        embedded_target_test,
        embedded_test_hr,
        embedded_validation,
        load_300w_check,
        load_imglab_faces,
    )
    from .data.external import pascal_xml_files

    data = DataConfig(schema=schema)
    sets = {VALIDATION: embedded_validation(schema)}
    if real_val:
        sets[REAL_VALIDATION] = load_300w_check(real_val).to_schema(schema)
        family = load_300w_check(real_val, camera="camera-family", seed=seed)
        sets[REAL_VALIDATION_CAMERA] = family.to_schema(schema)
    sets[TARGET_TEST] = embedded_target_test(data, seed, progress=progress)
    if g1 is not None:
        sets[G1_TEST] = generated_test(g1, embedded_test_hr(data, seed, progress=progress), seed)
    xml = pascal_xml_files()
    if xml:
        sets[PASCAL_NATIVE] = load_imglab_faces(xml)
        sets[PASCAL_CAMERA] = load_imglab_faces(xml, camera="target-camera", seed=seed)
    return sets
