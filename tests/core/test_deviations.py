import pytest
from pydantic import BaseModel, ConfigDict, Field

from wsad_core import ContractError, Deviation, setting_deviations
from wsad_core.deviations import as_deviations, describe_deviations, merge_deviations


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    epochs: int = Field(200, description="epochs")
    widths: tuple[int, ...] = Field((64, 128), description="widths")
    prompt: str = Field("largest", description="prompt")
    cache: str = Field("", description="not a method setting")


def test_setting_deviations_compare_with_defaults_and_published_values():
    options = _Options(epochs=4, cache="/tmp/x")
    found = setting_deviations(options, ("epochs", "widths"))
    assert [(d.kind, d.what, d.used, d.published) for d in found] == [("setting", "epochs", "4", "200")]
    assert setting_deviations(_Options(), ("epochs", "widths", "cache")) == []
    defaults = setting_deviations(_Options(), ("prompt",), published={"prompt": "all"}, kind="default")
    assert [d.short() for d in defaults] == ["prompt largest (published all)"]
    assert [d.short() for d in setting_deviations(_Options(widths=(8, 16)), ("widths",))] == [
        "widths 8/16 (published 64/128)"
    ]


def test_setting_deviations_refuse_unknown_fields():
    with pytest.raises(ContractError, match="no option 'epoch'"):
        setting_deviations(_Options(), ("epoch",))


def test_deviation_validates_and_round_trips():
    deviation = Deviation(kind="weights", what="weights", used="random init", published="OpenAI CLIP")
    assert Deviation.from_dict(deviation.to_dict()) == deviation
    with pytest.raises(ContractError, match="kind"):
        Deviation(kind="other", what="x", used="y", published="z")  # type: ignore[arg-type]
    with pytest.raises(ContractError, match="used"):
        Deviation(kind="data", what="x", used="", published="z")
    with pytest.raises(ContractError, match="lacks 'published'"):
        Deviation.from_dict({"kind": "data", "what": "x", "used": "y"})


def test_as_deviations_fills_the_source_and_rejects_other_values():
    mapping = {"kind": "modality", "what": "modality", "used": "flair", "published": "t2"}
    found = as_deviations(
        [mapping, Deviation(kind="data", what="cohort", used="a", published="b", source="x")], source="segmenter s"
    )
    assert [d.source for d in found] == ["segmenter s", "x"]
    assert as_deviations(None) == []
    with pytest.raises(ContractError, match="segmenter s"):
        as_deviations("epochs 4", source="segmenter s")
    with pytest.raises(ContractError, match="not a Deviation"):
        as_deviations([1], source="segmenter s")


def test_merge_orders_by_kind_and_removes_repeats():
    a = Deviation(kind="modality", what="modality", used="flair", published="t2", source="bench")
    b = Deviation(kind="weights", what="weights", used="random init", published="official", source="generator g")
    merged = merge_deviations([a], [b, a])
    assert merged == [b, a]
    assert (
        describe_deviations(merged)
        == "weights: weights random init (published official); modality: modality flair (published t2)"
    )
    assert describe_deviations(merged, with_source=True).startswith("weights (generator g): weights random init")
    assert describe_deviations([]) == ""
