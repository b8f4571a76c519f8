"""The ``gentool`` command line: a click group and one module per command."""
