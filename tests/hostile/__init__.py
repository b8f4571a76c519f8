"""Hostile-input and fault tests: every case is a row of a table (see ``harness``)."""
