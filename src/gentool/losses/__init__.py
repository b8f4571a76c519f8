"""GAN losses: pure tensor maths in :mod:`functional`, thin named plugin classes beside it."""
