"""Runs: the training loop's events, the jobs that run it and where they run, their history."""
