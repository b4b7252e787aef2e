"""The conformance suite every wsad plugin runs on itself.

Subclass :class:`PluginConformance` in a test module of the plugin package::

    from wsad_core.testing import PluginConformance

    class TestZScore(PluginConformance):
        role = "generator"
        plugin_name = "zscore"
        distribution = "wsad-baselines"
        options = {"threshold": 2.0}     # a tiny, fast configuration

pytest then collects the checks below: registration through the ``wsad`` entry-point
group, a well-formed spec, option validation, the role's shape/dtype/range contract on
a tiny synthetic batch on CPU, determinism under a seed, test slices reaching the plugin
with labels hidden (and outputs that do not change when they are shown), the saved state
restoring the same outputs (plugins with a ``loader``), and presence in ``wsad plugins
--json``. A second level is opt-in: with ``learning_floor = 0.7`` the plugin must, after its
own short training on the synthetic lesion set, rank lesion pixels above healthy ones with a pixel
AUROC above 0.7 (a constant map scores 0.5 and fails).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from wsad_core.context import BuildContext
from wsad_core.errors import ConfigError
from wsad_core.plugins import PluginHost, with_stage_builder
from wsad_core.roles import EvaluationRequest
from wsad_core.specs import PluginSpec, Role
from wsad_core.testing._checks import LabelSpy, check_learns, crude_masks, maps_of, revealed
from wsad_core.testing.synthetic import ToyBatch, toy_batch
from wsad_core.types import Label, MaskSet, MetricRow, ScoreMaps, SliceSet

__all__ = ["PluginConformance", "run_role"]


def _context(work_dir: Path, seed: int, host: PluginHost) -> BuildContext:
    work_dir.mkdir(parents=True, exist_ok=True)
    return with_stage_builder(BuildContext(device="cpu", seed=seed, work_dir=work_dir), host)


def _fit(host: PluginHost, role: Role, name: str, obj: Any, batch: ToyBatch) -> None:
    if role == "generator":
        obj.fit(batch.train)
    elif role == "segmenter":
        spec = host.get("segmenter", name)
        # As in a run with a generator: segmenters that only accept pseudo-masks get them too.
        given = spec.trains_on_pseudo_masks  # type: ignore[attr-defined]
        obj.fit(batch.train, batch.pseudo_masks() if given else None)


def _apply(host: PluginHost, role: Role, name: str, obj: Any, batch: ToyBatch, slices: SliceSet) -> Any:
    """The role's test-time output for ``slices`` (the test slices, labels hidden or not)."""
    if role == "generator":
        return obj.generate(slices)
    if role == "refiner":
        return obj.refine(slices, crude_masks(batch))
    if host.get("segmenter", name).prompted_by_pseudo_masks:  # type: ignore[attr-defined]
        return obj.predict(slices, pseudo_masks=crude_masks(batch))
    return obj.predict(slices)


def run_role(
    host: PluginHost, role: Role, name: str, options: dict[str, Any], batch: ToyBatch, work_dir: Path, seed: int = 0
) -> Any:
    """Build the plugin and run its role once on ``batch``; returns its output."""
    obj = host.create(role, name, options, _context(work_dir, seed, host))
    if role == "evaluator":
        scores = np.clip(batch.test_truth.astype(np.float32) * 0.8 + 0.1, 0.0, 1.0)
        return obj.evaluate(EvaluationRequest(scores, batch.reference, 0.5, "fixed:0.5"))
    if role not in ("generator", "refiner", "segmenter"):
        raise ValueError(f"no conformance run for role {role!r}")
    _fit(host, role, name, obj, batch)
    return _apply(host, role, name, obj, batch, batch.test)


def _output_arrays(output: Any) -> list[np.ndarray]:
    if isinstance(output, MaskSet):
        return [output.soft, output.masks]
    if isinstance(output, ScoreMaps):
        return [output.scores]
    return [np.asarray([r.value if r.value is not None else np.nan for r in output], np.float64)]


class PluginConformance:
    """Base class of a plugin's conformance tests; set the class attributes in a subclass."""

    role: ClassVar[Role]
    plugin_name: ClassVar[str]
    #: distribution expected to provide the plugin (``None``: any).
    distribution: ClassVar[str | None] = None
    #: options for the tiny test configuration.
    options: ClassVar[dict[str, Any]] = {}
    #: synthetic batch size (height = width) and channel count.
    image_size: ClassVar[int] = 64
    channels: ClassVar[int] = 1
    #: Opt-in second level: after its own short training on the synthetic lesion set, the plugin's
    #: test maps must rank lesion pixels above healthy brain pixels with a pixel AUROC above this
    #: floor (chance is 0.5; a constant map fails). ``None``: not checked.
    learning_floor: ClassVar[float | None] = None
    #: options for the learning check (default: ``options``), e.g. a few more epochs.
    learning_options: ClassVar[dict[str, Any] | None] = None
    #: training and test slices of the synthetic lesion set (half of the training slices are anomalous).
    learning_slices: ClassVar[tuple[int, int]] = (32, 16)

    @pytest.fixture(scope="class")
    @classmethod
    def host(cls) -> PluginHost:
        """Plugins loaded from entry points, as users get them."""
        return PluginHost(disabled=())

    @pytest.fixture(scope="class")
    @classmethod
    def spec(cls, host: PluginHost) -> PluginSpec:
        """The plugin's spec."""
        return host.get(cls.role, cls.plugin_name)

    @pytest.fixture(scope="class")
    @classmethod
    def batch(cls) -> ToyBatch:
        """The tiny synthetic batch."""
        return toy_batch(size=cls.image_size, channels=cls.channels, seed=0)

    @pytest.fixture(scope="class")
    @classmethod
    def first_run(cls, host: PluginHost, batch: ToyBatch, tmp_path_factory: pytest.TempPathFactory) -> Any:
        """Output of one run on the toy batch."""
        return run_role(host, cls.role, cls.plugin_name, cls.options, batch, tmp_path_factory.mktemp("run1"))

    def test_registered_through_entry_point(self, host: PluginHost) -> None:
        """The name is registered once, by an installed distribution's ``wsad`` entry point."""
        providers = host.providers(self.role, self.plugin_name)
        assert providers, f"{self.role} {self.plugin_name!r} is not registered"
        assert len(providers) == 1, f"{self.plugin_name!r} registered by several plugins: {providers}"
        status = next(s for s in host.statuses() if s.name == providers[0])
        assert status.state == "ok", status.error
        assert status.dist, f"{self.plugin_name!r} does not come from an installed distribution's entry point"
        if self.distribution is not None:
            assert status.dist == self.distribution

    def test_spec_is_well_formed(self, spec: PluginSpec) -> None:
        """Name, summary, documented options with ``extra="forbid"``, a version."""
        spec.validate()
        assert spec.role == self.role
        assert spec.version, "spec has no version (and its distribution none either)"

    def test_default_and_test_options_validate(self, host: PluginHost, spec: PluginSpec) -> None:
        """Defaults (when nothing is required) and the test options are accepted."""
        required = [n for n, f in spec.options.model_fields.items() if f.is_required()]
        if not required:
            host.validate_options(self.role, self.plugin_name, {})
        host.validate_options(self.role, self.plugin_name, self.options)

    def test_unknown_option_is_rejected(self, host: PluginHost) -> None:
        """A misspelled option fails, naming it."""
        with pytest.raises(ConfigError, match="no_such_option"):
            host.validate_options(self.role, self.plugin_name, {**self.options, "no_such_option": 1})

    def test_wrongly_typed_options_are_rejected(self, host: PluginHost, spec: PluginSpec) -> None:
        """Every typed option refuses a value of the wrong type, naming the option."""
        for name, field in spec.options.model_fields.items():
            if field.annotation in (Any, object):
                continue
            with pytest.raises(ConfigError, match=name):
                host.validate_options(self.role, self.plugin_name, {**self.options, name: object()})

    def test_output_contract_on_cpu(self, spec: PluginSpec, batch: ToyBatch, first_run: Any) -> None:
        """On CPU, the output has the role's type, shape, dtype and range."""
        n, size = len(batch.test), self.image_size
        if self.role in ("generator", "refiner"):
            assert isinstance(first_run, MaskSet)
            assert first_run.soft.shape == first_run.masks.shape == (n, size, size)
            assert first_run.soft.dtype == np.float32
            assert first_run.masks.dtype == np.bool_
            assert first_run.soft.min() >= 0.0
            assert first_run.soft.max() <= 1.0
        elif self.role == "segmenter":
            assert isinstance(first_run, ScoreMaps)
            assert first_run.scores.shape == (n, size, size)
            assert first_run.scores.dtype == np.float32
            assert first_run.kind == spec.io.output_kind
            assert np.isfinite(first_run.scores).all()
        else:
            assert first_run, "the evaluator returned no rows"
            assert all(isinstance(r, MetricRow) for r in first_run)
            assert all(r.protocol and r.metric for r in first_run)
            assert all(r.threshold_rule == "fixed:0.5" for r in first_run)
            assert all(r.value is None or np.isfinite(r.value) for r in first_run)

    def test_deterministic_under_seed(
        self,
        host: PluginHost,
        spec: PluginSpec,
        batch: ToyBatch,
        first_run: Any,
        tmp_path_factory: pytest.TempPathFactory,
    ) -> None:
        """Two runs with the same seed in fresh work directories give identical outputs."""
        if not spec.io.deterministic:
            pytest.skip(f"{self.plugin_name} declares itself non-deterministic")
        again = run_role(host, self.role, self.plugin_name, self.options, batch, tmp_path_factory.mktemp("run2"))
        for first, second in zip(_output_arrays(first_run), _output_arrays(again), strict=True):
            np.testing.assert_array_equal(first, second)

    def test_test_slices_reach_the_plugin_with_labels_hidden(
        self, host: PluginHost, batch: ToyBatch, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        """At test time the plugin sees only hidden labels (the pipeline does the same, tests/pipeline)."""
        if self.role == "evaluator":
            pytest.skip("evaluators see ground truth by design")
        spy = LabelSpy(
            host.create(self.role, self.plugin_name, self.options, _context(tmp_path_factory.mktemp("spy"), 0, host))
        )
        _fit(host, self.role, self.plugin_name, spy, batch)
        _apply(host, self.role, self.plugin_name, spy, batch, batch.test)
        at_test = [(method, labels) for method, labels in spy.seen if method in ("generate", "refine", "predict")]
        assert at_test, "the plugin was never asked for test-time output"
        for method, labels in at_test:
            assert (labels == Label.UNKNOWN).all(), f"{method} received slices whose labels are not hidden"

    def test_outputs_do_not_depend_on_test_labels(
        self, host: PluginHost, spec: PluginSpec, batch: ToyBatch, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        """A trained segmenter (or a refiner) gives the same maps whether or not the slices' labels are shown.

        Test slices always arrive with labels hidden; a segmenter whose output changes with them was
        developed against something it never gets (and must not read ground truth from disk either).
        Generators are exempt: image labels are their supervision, also when they make the
        pseudo-masks of labelled training slices.
        """
        if self.role == "evaluator":
            pytest.skip("evaluators see ground truth by design")
        if self.role == "generator":
            pytest.skip("generators may use the image labels of the training slices they make pseudo-masks for")
        if not spec.io.deterministic:
            pytest.skip(f"{self.plugin_name} declares itself non-deterministic")
        obj = host.create(
            self.role, self.plugin_name, self.options, _context(tmp_path_factory.mktemp("labels"), 0, host)
        )
        _fit(host, self.role, self.plugin_name, obj, batch)
        hidden = maps_of(_apply(host, self.role, self.plugin_name, obj, batch, batch.test))
        shown = maps_of(_apply(host, self.role, self.plugin_name, obj, batch, revealed(batch.test, batch.test_truth)))
        np.testing.assert_array_equal(hidden, shown)

    def test_saved_state_restores_the_same_outputs(
        self, host: PluginHost, spec: PluginSpec, batch: ToyBatch, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        """With a ``loader``: what ``loader(path, context)`` restores gives the trained object's outputs exactly.

        The trained object's ``save(path)`` runs after fit; the loader gets a fresh work directory, as in
        ``wsad predict`` on another machine.
        """
        if spec.loader is None:
            pytest.skip("the plugin declares no loader (wsad predict cannot restore it)")
        trained = host.create(
            self.role, self.plugin_name, self.options, _context(tmp_path_factory.mktemp("a"), 0, host)
        )
        _fit(host, self.role, self.plugin_name, trained, batch)
        path = tmp_path_factory.mktemp("saved") / "trained.state"
        trained.save(path)
        restored = spec.loader(path, _context(tmp_path_factory.mktemp("b"), 0, host))
        before = _output_arrays(_apply(host, self.role, self.plugin_name, trained, batch, batch.test))
        after = _output_arrays(_apply(host, self.role, self.plugin_name, restored, batch, batch.test))
        for first, second in zip(before, after, strict=True):
            np.testing.assert_array_equal(first, second)

    def test_learns_on_synthetic_lesions(self, host: PluginHost, tmp_path_factory: pytest.TempPathFactory) -> None:
        """Opt-in (``learning_floor``): the maps rank lesion pixels above healthy ones better than chance."""
        if self.learning_floor is None or self.role == "evaluator":
            pytest.skip("the plugin declares no learning floor")
        n_train, n_test = self.learning_slices
        lesions = toy_batch(n_train=n_train, n_test=n_test, size=self.image_size, channels=self.channels, seed=1)
        options = self.options if self.learning_options is None else self.learning_options
        check_learns(
            host,
            self.role,
            self.plugin_name,
            options,
            lesions,
            tmp_path_factory.mktemp("learn"),
            floor=self.learning_floor,
        )

    def test_listed_by_wsad_plugins_json(self, host: PluginHost) -> None:
        """``wsad plugins --json`` lists the spec."""
        from wsad_core.cli.plugins_cmd import plugins_report

        specs = plugins_report(host)["specs"]
        assert any(s["role"] == self.role and s["name"] == self.plugin_name for s in specs)
