"""The run configuration: typed dataclasses loaded from one YAML file (``load_config``).

One module per top-level section (``run``, ``data``, ``train``, ``quantize``, ``firmware``, ``scan``,
``studies``; ``cluster`` beside ``run``, ``check`` and ``metrics`` in ``report``), each section checking its
own values (``section.Section``); ``loader`` holds the whole ``Config`` and the YAML loading. Every name
is imported from here: ``from l1ad.config import Config, load_config``.
"""

from l1ad.config.data import DataConfig, DijetData, JetImageData, L1Data
from l1ad.config.firmware import (
    BUDGET_FIGURES,
    BUDGET_FRACTIONS,
    STRATEGIES,
    BudgetConfig,
    BudgetLimits,
    FirmwareConfig,
    RtlConfig,
    strategy_problems,
)
from l1ad.config.loader import NOT_FINGERPRINTED, Config, load_config, read_yaml_file, safe_load_unique
from l1ad.config.quantize import QATModelConfig, QuantBits, QuantizeConfig
from l1ad.config.report import CheckConfig, MetricsConfig
from l1ad.config.run import DEPLOYED, DEPLOYED_MODELS, ClusterConfig, DeployedModel, RunConfig
from l1ad.config.scan import ScanConfig, ScanPoint, grid_points
from l1ad.config.section import Section
from l1ad.config.studies import (
    STUDY_FAMILIES,
    AnomalyCLRConfig,
    GaussianStudyConfig,
    MPDRConfig,
    NAEConfig,
    NuRDStudyConfig,
    OneClassStudyConfig,
    StudiesConfig,
)
from l1ad.config.train import AEConfig, NuRDConfig, OCDNConfig, TrainConfig

__all__ = [
    "BUDGET_FIGURES",
    "BUDGET_FRACTIONS",
    "DEPLOYED",
    "DEPLOYED_MODELS",
    "DeployedModel",
    "NOT_FINGERPRINTED",
    "STRATEGIES",
    "STUDY_FAMILIES",
    "AEConfig",
    "AnomalyCLRConfig",
    "BudgetConfig",
    "BudgetLimits",
    "CheckConfig",
    "ClusterConfig",
    "Config",
    "DataConfig",
    "DijetData",
    "FirmwareConfig",
    "GaussianStudyConfig",
    "JetImageData",
    "L1Data",
    "MPDRConfig",
    "MetricsConfig",
    "NAEConfig",
    "NuRDConfig",
    "NuRDStudyConfig",
    "OCDNConfig",
    "OneClassStudyConfig",
    "QATModelConfig",
    "QuantBits",
    "QuantizeConfig",
    "RtlConfig",
    "RunConfig",
    "ScanConfig",
    "ScanPoint",
    "Section",
    "StudiesConfig",
    "TrainConfig",
    "grid_points",
    "load_config",
    "read_yaml_file",
    "safe_load_unique",
    "strategy_problems",
]
