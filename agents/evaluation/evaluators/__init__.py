"""One evaluator per module. `base.py` says what an evaluator is."""
