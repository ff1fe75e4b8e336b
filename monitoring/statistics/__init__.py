"""The statistics research, validation, the rollout monitor and impact share: what a metric counts (its
rows and failures), significance tests, and bootstrap intervals. Pure Python (no SciPy for a few
formulas)."""
