"""Layer 2 of mnlab: measurements that work on any ``nn.Module`` and input shape.

Never imports :mod:`mnlab.models`; a model's name means nothing here.
"""
