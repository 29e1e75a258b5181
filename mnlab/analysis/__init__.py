"""Layer 2 of mnlab: measurements that work on any ``nn.Module`` and input shape.

Never imports :mod:`mnlab.models`; a model's name means nothing here.
"""
from mnlab.analysis.counting import COLUMNS, Report, analyze
from mnlab.analysis.memory import BlockMemory, LiveBytes, block_memory_table, default_blocks
from mnlab.analysis.latency import (DeployedModule, LatencyResult, compare_latency, deploy, deployed,
                                    fold_batchnorm, measure_latency)
from mnlab.analysis.profile import LayerProfile, profile_layers
from mnlab.analysis.roofline import MachinePeaks, machine_peaks, matmul_curve, roofline
from mnlab.analysis.correlation import rank_correlation

__all__ = ["analyze", "Report", "COLUMNS", "block_memory_table", "BlockMemory", "LiveBytes", "default_blocks",
           "measure_latency", "compare_latency", "LatencyResult", "deploy", "deployed", "DeployedModule", "fold_batchnorm", "profile_layers", "LayerProfile",
           "machine_peaks", "MachinePeaks", "matmul_curve", "roofline", "rank_correlation"]
