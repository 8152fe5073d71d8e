"""Data and lm-eval task templates for the single-digit sums tasks (see :mod:`localeval.tasks`)."""
