"""The S²LD networks (§3): G1/D1 (stage 1), G2/D2/D3 (stage 2), their sizes and a frozen VGG-19."""

from .. import vector_math  # noqa: F401  (MKL's code path settled before the first forward)
from .blocks import count_parameters
from .confidence import ConfidenceDiscriminator
from .config import PROFILES, NetworkConfig, network_config
from .heatmap import HeatmapDiscriminator, HeatmapGenerator
from .high_to_low import HighToLowDiscriminator, HighToLowGenerator
from .vgg import VGGPerceptual, build_vgg19_features, load_perceptual

__all__ = [
    "PROFILES",
    "NetworkConfig",
    "network_config",
    "HighToLowGenerator",
    "HighToLowDiscriminator",
    "HeatmapGenerator",
    "HeatmapDiscriminator",
    "ConfidenceDiscriminator",
    "count_parameters",
    "VGGPerceptual",
    "build_vgg19_features",
    "load_perceptual",
]
