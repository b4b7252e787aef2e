"""Apply a finished run to new data (``wsad predict``) and share it as a bundle (``wsad export``).

A run keeps each trained stage's state in ``model/`` (written by the stage's own ``save`` and
restored by its spec's ``loader``); prediction rebuilds the test-time stages from it, prepares
new cases with the run's preprocessing and binarises with the threshold the run chose on its
validation patients.
"""

from wsad_core.predict.apply import PREDICTION_FILE, Prediction, predict_cases
from wsad_core.predict.bundle import export_bundle
from wsad_core.predict.inputs import open_inputs
from wsad_core.predict.trained import BUNDLE_FILE, StageObjects, TrainedPipeline, open_trained

__all__ = [
    "BUNDLE_FILE",
    "PREDICTION_FILE",
    "Prediction",
    "StageObjects",
    "TrainedPipeline",
    "export_bundle",
    "open_inputs",
    "open_trained",
    "predict_cases",
]
