"""Layer 3: the experiments behind the chapters (toy manifolds, small training runs, ablations).

Each module serves one chapter; it may build models and analyze them, and returns data.
"""
