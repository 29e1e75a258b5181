"""Layer 2 of mnlab: measurements that work on any ``nn.Module`` and input shape.

Never imports :mod:`mnlab.models`; a model's name means nothing here.
"""
from mnlab.analysis.inputs import InputShape
from mnlab.analysis.counting import COLUMNS, Count, OpCall, Report, analyze, register_op, unregister_op
from mnlab.analysis.liveness import LiveBytes
from mnlab.analysis.memory import BlockMemory, block_memory_table, default_blocks
from mnlab.analysis.deployment import (BACKENDS, Backend, DeployedModule, UnsupportedOperatorError, deploy,
                                       fold_batchnorm)
from mnlab.analysis.latency import LatencyResult, compare_latency, measure_latency
from mnlab.analysis.profile import LayerProfile, profile_layers
from mnlab.analysis.roofline import MachinePeaks, machine_peaks, matmul_curve, roofline
from mnlab.analysis.correlation import rank_correlation

__all__ = ["analyze", "Report", "COLUMNS", "register_op", "unregister_op", "Count", "OpCall",
           "block_memory_table", "BlockMemory", "LiveBytes", "default_blocks",
           "measure_latency", "compare_latency", "LatencyResult", "BACKENDS", "Backend", "deploy", "DeployedModule",
           "InputShape", "UnsupportedOperatorError", "fold_batchnorm", "profile_layers", "LayerProfile",
           "machine_peaks", "MachinePeaks", "matmul_curve", "roofline", "rank_correlation"]
