"""Training loops: they own the alternation of networks, logging, sample grids and checkpoints."""
