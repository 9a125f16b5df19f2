"""digest's benchmarks: ``python -m benchmarks [--quick | --full]`` (see ``run.py``)."""
