"""Datasets: the registry (`registry`), items on disk (`items`, `formats/`), the simulated CLIP world (`simulated`),
and the evaluation protocols over CLIP features (`tasks`). Import from the module you need: this package runs
nothing, so the grid's driver can read the registry without loading torch."""
