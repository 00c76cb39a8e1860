"""Report: stored records -> Board (analysis.py, pure) -> self-contained index.html + csv + json (render.py).

from_store.report_from_store is the one entry point of `harness report` and of the sweep's callback
(harness/app/callback.py). The words of the deployment model's figures: words.py.
"""
