"""Client side of the lesion pipeline: library, CLI, load generator, client metrics."""
