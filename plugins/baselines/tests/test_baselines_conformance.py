"""The core's conformance suite, run on this distribution's plugins as any third-party plugin would."""

from __future__ import annotations

from wsad_core.testing import PluginConformance


class TestZScoreConformance(PluginConformance):
    role = "generator"
    plugin_name = "zscore"
    distribution = "wsad-baselines"
    # Measured 0.9999 on the synthetic lesion set (seeds 1-3): bright lesions are what a z-score finds.
    learning_floor = 0.95


class TestUNetConformance(PluginConformance):
    role = "segmenter"
    plugin_name = "unet"
    distribution = "wsad-baselines"
    options = {"epochs": 1, "channels": (8, 16), "batch_size": 8}
    # Measured 0.68-0.69 after 10 epochs (0.55 after 3) on the synthetic lesion set, seeds 1-2.
    learning_floor = 0.6
    learning_options = {"epochs": 10, "channels": (8, 16), "batch_size": 8}


class TestAmeCamConformance(PluginConformance):
    role = "generator"
    plugin_name = "ame-cam"
    distribution = "wsad-baselines"
    options = {
        "width": 4,
        "simclr_epochs": 1,
        "simclr_batch_size": 8,
        "classifier_epochs": 1,
        "classifier_batch_size": 8,
        "aggregation_epochs": 1,
        "aggregation_batch_size": 8,
    }


class TestAEConformance(PluginConformance):
    role = "segmenter"
    plugin_name = "ae"
    distribution = "wsad-baselines"
    options = {
        "image_size": 32,
        "encoder_channels": (4, 8),
        "decoder_channels": (8, 4),
        "bottleneck_channels": 2,
        "latent_dim": 8,
        "epochs": 1,
        "batch_size": 8,
        "erosion_iterations": 1,
    }


class TestDAEConformance(PluginConformance):
    role = "segmenter"
    plugin_name = "dae"
    distribution = "wsad-baselines"
    options = {
        "image_size": 32,
        "channels": (4, 8),
        "epochs": 1,
        "iterations_per_epoch": 2,
        "batch_size": 4,
        "validation_batches": 1,
    }
    # Measured 0.992-0.993 (seeds 1-3) with 2 epochs of 4 iterations: the residual of bright lesions.
    learning_floor = 0.9
    learning_options = {
        "image_size": 32,
        "channels": (4, 8),
        "epochs": 2,
        "iterations_per_epoch": 4,
        "validation_batches": 1,
    }


class TestPatch2LocConformance(PluginConformance):
    # No learning floor: the synthetic lesion set has uniform tissue, nothing to localise a patch against
    # (measured pixel AUROC 0.478 after 100 steps, seed 1); test_baselines_patch2loc shows it learns locations.
    role = "segmenter"
    plugin_name = "patch2loc"
    distribution = "wsad-baselines"
    options = {
        "image_size": 32,
        "patches_per_batch": 256,
        "slices_per_batch": 8,
        "latent_dim": 32,
        "epochs": 1,
        "stride": 4,
        "erosion_iterations": 1,
        "median_size": 3,
    }
