"""Model architectures, one per file. See :mod:`gentool.models.base` for the interface."""
