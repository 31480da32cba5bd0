"""The study: papermill-parameterised notebooks (``notebooks/``) and the code they call.

``config`` (what a run is), ``steps`` (what notebooks call), ``analysis`` (statistics, claim checks,
tables), ``widgets`` (interactive explorers with static fallbacks), ``runner`` (``s2ld study``),
``report`` (``metrics.json`` and ``index.html``), ``notebooks`` (keeping committed notebooks clean).
"""
