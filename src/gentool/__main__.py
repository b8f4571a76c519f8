"""Allow ``python -m gentool`` (and ``torchrun -m gentool``)."""

from gentool.cli.main import main

if __name__ == "__main__":
    main()
