"""Doorstep's benchmarks: ratios against baselines measured in the same run
(``python -m bench``; see ``bench/__main__.py``)."""
