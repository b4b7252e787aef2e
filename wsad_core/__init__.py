"""wsad: weakly supervised anomaly detection in medical images.

The public surface for plugin authors and users. Plugins import only from here::

    from wsad_core import GeneratorSpec, MaskSet, hookimpl
"""

from __future__ import annotations

from wsad_core._version import __version__
from wsad_core.context import BuildContext, ProgressReporter, ProgressTask, SilentProgress, StageBuilder
from wsad_core.data.config import PreprocessConfig, SplitConfig
from wsad_core.data.index import MODALITIES, CaseRecord, DatasetIndex, VolumeRef
from wsad_core.deviations import (
    DEVIATION_KINDS,
    Deviation,
    DeviationKind,
    as_deviations,
    describe_deviations,
    setting_deviations,
)
from wsad_core.errors import (
    ConfigError,
    ContractError,
    DataError,
    NonFiniteLossError,
    PluginConflictError,
    PluginError,
    PluginLoadError,
    RunDirectoryError,
    UnknownPluginError,
    WeightsNotFoundError,
    WsadError,
)
from wsad_core.hookspecs import hookimpl
from wsad_core.plugins import PluginHost, PluginStatus
from wsad_core.roles import EvaluationRequest, Evaluator, PseudoMaskGenerator, Reconstructor, Refiner, Segmenter
from wsad_core.specs import (
    DatasetSpec,
    EvaluatorSpec,
    GeneratorSpec,
    IOContract,
    PluginSpec,
    RefinerSpec,
    Role,
    SegmenterSpec,
    WeightsInfo,
)
from wsad_core.types import (
    Label,
    MapKind,
    MaskSet,
    MetricRow,
    ReferenceSlices,
    RunInfo,
    RunOutcome,
    ScoreMaps,
    SliceSet,
)

__all__ = [
    "DEVIATION_KINDS",
    "MODALITIES",
    "BuildContext",
    "CaseRecord",
    "ConfigError",
    "ContractError",
    "DataError",
    "DatasetIndex",
    "DatasetSpec",
    "Deviation",
    "DeviationKind",
    "EvaluationRequest",
    "Evaluator",
    "EvaluatorSpec",
    "GeneratorSpec",
    "IOContract",
    "Label",
    "MapKind",
    "MaskSet",
    "MetricRow",
    "NonFiniteLossError",
    "PluginConflictError",
    "PluginError",
    "PluginHost",
    "PluginLoadError",
    "PluginSpec",
    "PluginStatus",
    "PreprocessConfig",
    "ProgressReporter",
    "ProgressTask",
    "PseudoMaskGenerator",
    "Reconstructor",
    "ReferenceSlices",
    "Refiner",
    "RefinerSpec",
    "Role",
    "RunDirectoryError",
    "RunInfo",
    "RunOutcome",
    "ScoreMaps",
    "Segmenter",
    "SegmenterSpec",
    "SilentProgress",
    "SliceSet",
    "SplitConfig",
    "StageBuilder",
    "UnknownPluginError",
    "VolumeRef",
    "WeightsInfo",
    "WeightsNotFoundError",
    "WsadError",
    "__version__",
    "as_deviations",
    "describe_deviations",
    "hookimpl",
    "setting_deviations",
]
