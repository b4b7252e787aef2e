"""The core's conformance suite on the diffusion segmenters, at a tiny size (published sizes: test_diffusion_units)."""

from __future__ import annotations

from wsad_core.testing import PluginConformance

TINY = {
    "image_size": 32,
    "channels": (16, 32),
    "num_res_blocks": 1,
    "num_head_channels": 16,
    "norm_groups": 8,
    "timesteps": 100,
    "test_timestep": 50,
    "noise": "gaussian",
    "epochs": 1,
    "epoch_sampling": "all-slices",
    "batch_size": 8,
    "median_size": 3,
    "erosion_iterations": 1,
}
PATCHED = {**TINY, "patch_size": 16}


class TestDDPMConformance(PluginConformance):
    role = "segmenter"
    plugin_name = "ddpm"
    distribution = "wsad-diffusion"
    options = TINY


class TestPDDPMConformance(PluginConformance):
    role = "segmenter"
    plugin_name = "pddpm"
    distribution = "wsad-diffusion"
    options = PATCHED
    # Pixel AUROC on the synthetic lesion set, measured (seeds 1, 2): ddpm 0.906/0.902, pddpm 0.910/0.915,
    # mddpm 0.875/0.889 after 24 epochs at lr 1e-3 -- and pddpm 0.938/0.922 after 1 epoch: bright discs leave
    # large residuals in any smooth reconstruction, so this checks the map pipeline, not learning (that is
    # test_diffusion_units::test_training_lowers_the_loss...).
    learning_floor = 0.85


class TestMDDPMConformance(PluginConformance):
    role = "segmenter"
    plugin_name = "mddpm"
    distribution = "wsad-diffusion"
    options = {**PATCHED, "noise": "simplex", "simplex_frequency": 16.0}
