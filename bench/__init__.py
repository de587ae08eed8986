"""charrnn's benchmarks: `python -m bench [--quick]` (see bench/README.md). Not part of the installed app."""
