"""mnlab — the companion package of the MobileNets book.

Reference implementations (:mod:`mnlab.models`), analyzers that count and time any module
(:mod:`mnlab.analysis`), the published figures (:mod:`mnlab.papers`) and the claims machinery.
"""
from mnlab.models import create_model, default_resolution, family, list_models, reparameterize

__version__ = "0.1.0"

__all__ = ["create_model", "default_resolution", "family", "list_models", "reparameterize"]
