"""mnlab — the companion package of the MobileNets book.

Reference implementations (:mod:`mnlab.models`), analyzers that count and time any module
(:mod:`mnlab.analysis`), the published figures (:mod:`mnlab.papers`) and the claims machinery
(:mod:`mnlab.claims`).
"""
from mnlab.analysis import (analyze, block_memory_table, machine_peaks, measure_latency,
                            profile_layers, rank_correlation)
from mnlab.models import create_model, default_resolution, family, list_models, reparameterize
from mnlab.zoo import zoo_sweep

__version__ = "0.1.0"  # the one place: pyproject.toml reads it, `mnlab --version` prints it

__all__ = ["create_model", "default_resolution", "family", "list_models", "reparameterize",
           "analyze", "block_memory_table", "measure_latency", "profile_layers", "machine_peaks",
           "rank_correlation", "zoo_sweep"]
