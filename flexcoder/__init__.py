"""flexcoder: FLEX-CLIP and CODER on CLIP features. A library; it imports neither ray nor mlflow."""

from flexcoder.config import ConfigError, TrialConfig
from flexcoder.methods import TrialContext, list_methods, method_info, run_trial
from flexcoder.metric_logger import MemoryLogger, MetricLogger, NullLogger

__all__ = [
    "ConfigError",
    "MemoryLogger",
    "MetricLogger",
    "NullLogger",
    "TrialConfig",
    "TrialContext",
    "list_methods",
    "method_info",
    "run_trial",
]
