"""Former name of :mod:`s2ld_core.atomic` (it shadowed the standard library's ``io``); kept only until
the last internal import moves."""

from .atomic import *  # noqa: F401,F403
