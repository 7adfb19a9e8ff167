"""Structured pruning: `network` removes attention heads and MLP neurons, `model` prunes a checkpoint and writes it."""
