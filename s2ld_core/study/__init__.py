"""The study: papermill-parameterised notebooks (``notebooks/``) and the code they call.

``config`` (what a run is), ``steps`` (everything the notebooks call, gathered from ``context``,
``training``, ``evaluation``, ``face_verification`` and ``figures``), ``analysis`` (statistics, claim
checks, tables), ``widgets`` (interactive explorers with static fallbacks), ``runner`` (``s2ld study``),
``report`` (``metrics.json`` and ``index.html``), ``notebooks`` (keeping committed notebooks clean).
"""
