"""s2ld: semi-supervised landmark detection in low-resolution faces (S²LD), reproducible.

The everyday entry points are importable from here::

    from s2ld_core import LandmarkDetector, PhotoLandmarker, pretrained

``pretrained("ibug68")`` is the shipped detector on the fastest backend installed (ONNX Runtime on a
CPU, else PyTorch; its repr says which).

They are loaded on first use (PEP 562 ``__getattr__``), so ``import s2ld_core`` — and with it
``s2ld --help`` — never imports torch.
"""

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "LandmarkDetector": "s2ld_core.inference",
    "pretrained": "s2ld_core.inference",
    "PhotoLandmarker": "s2ld_core.photo",
    "PhotoResult": "s2ld_core.photo",
    "Face": "s2ld_core.photo",
    "FaceBox": "s2ld_core.faces",
    "make_face_finder": "s2ld_core.faces",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 's2ld_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
