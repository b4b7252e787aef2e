"""Test utilities for wsad plugins: the conformance suite and tiny synthetic data.

The pytest plugin in :mod:`wsad_core.testing.plugin` (registered as ``pytest11``)
provides the fixtures ``wsad_toy_batch``, ``wsad_build_context``, ``wsad_host`` and
``wsad_isolated_host``; :class:`InterruptAt` stops a training where a kill would, for resume tests.
"""

from __future__ import annotations

from wsad_core.testing.conformance import PluginConformance, run_role
from wsad_core.testing.interrupt import InterruptAt
from wsad_core.testing.synthetic import ToyBatch, toy_batch, toy_volumes

__all__ = ["InterruptAt", "PluginConformance", "ToyBatch", "run_role", "toy_batch", "toy_volumes"]
