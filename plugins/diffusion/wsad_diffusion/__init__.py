"""wsad-diffusion: denoising diffusion models as unsupervised anomaly segmenters (registered through entry points)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wsad-diffusion")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
