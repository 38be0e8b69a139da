"""Evaluation of QA sets: the item format, scoring, the runner, reports, the naive baseline, the eval CLI, bench."""
