"""s2ld: semi-supervised landmark detection in low-resolution faces (S²LD), reproducible."""

__version__ = "0.1.0"
