"""Report: stored records -> Board (analysis.py, pure) -> self-contained index.html + csv + json (render.py).

from_store.report_from_store is the one entry point of `harness report` and the Hydra callback (callback.py).
"""
