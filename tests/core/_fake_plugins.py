"""Source code of fake plugins used by the plugin-host tests."""

SPEC_HEADER = """
import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from wsad_core import GeneratorSpec, MaskSet, SegmenterSpec, ScoreMaps, hookimpl

class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    level: float = Field(0.5, description="Intensity level.")

class Gen:
    def __init__(self, options, context):
        self.level = options.level
    def fit(self, train, *, validation=None):
        pass
    def generate(self, slices):
        soft = slices.images.max(axis=1)
        return MaskSet(soft=soft, masks=soft > self.level, source="bright")
"""

GOOD = (
    SPEC_HEADER
    + """
@hookimpl
def wsad_register_generators():
    return [GeneratorSpec(name="bright", summary="Bright pixels.", options=Options, factory=Gen)]
"""
)

IMPORT_ERROR = """
import not_a_module_that_exists
"""

RAISING_HOOK = (
    SPEC_HEADER
    + """
@hookimpl
def wsad_register_generators():
    raise RuntimeError("registration exploded")
"""
)

MISSPELLED_HOOK = (
    SPEC_HEADER
    + """
@hookimpl
def wsad_register_generator():
    return []
"""
)

UNDOCUMENTED_OPTION = """
from pydantic import BaseModel, ConfigDict
from wsad_core import GeneratorSpec, hookimpl

class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: float = 0.5

@hookimpl
def wsad_register_generators():
    return [GeneratorSpec(name="undocumented", summary="x", options=Options, factory=lambda o, c: None)]
"""

DUPLICATE = GOOD
