"""Scheduler plugins: filters and scores, each a small class with one method."""
