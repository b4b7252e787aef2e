"""Names that become folders (benchmark, dataset, pipeline) keep every output under the folder the user chose."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from wsad_core._names import folder_clashes, inside, slug
from wsad_core.bench import BenchConfig, load_bench_config
from wsad_core.bench.jobs import plan_jobs
from wsad_core.cli import main
from wsad_core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

HOSTILE = [
    "..",
    ".",
    "",
    " ",
    "../x",
    "../../x",
    "../../../../tmp/escaped",
    "/tmp/x",
    "/",
    "a/b",
    "a/../../b",
    "a\\b",
    "..\\..\\x",
    "a\x00b",
    "line\nbreak",
    "ok\n",
    ".hidden",
    "-rf",
    "_x",
    "~",
    "~/x",
    "$HOME",
    "C:\\x",
    "x" * 101,
]


def _config(datasets: list[str], labels: list[str], name: str = "bench") -> BenchConfig:
    return BenchConfig.model_validate(
        {
            "name": name,
            "datasets": [
                {"name": d, "source": "demo", "split": {"folds": 2} if i else {}} for i, d in enumerate(datasets)
            ],
            "pipelines": [{"label": label, "generator": {"name": "zscore"}} for label in labels],
            "seeds": [0, 1],
        }
    )


def _random_names(count: int, seed: int, *, valid: bool = False) -> list[str]:
    """``count`` random names (valid ones: by construction), after the hostile ones unless ``valid``."""
    rng = random.Random(seed)
    if valid:
        return [
            "".join([rng.choice("aAbB12"), *rng.choices("aAbB12._-+ ()", k=rng.randint(0, 3))]) for _ in range(count)
        ]
    alphabet = "aA1._-+ ()/\\\x00~:üÜ*?"
    return HOSTILE + ["".join(rng.choices(alphabet, k=rng.randint(0, 8))) for _ in range(count)]


def _assert_under(jobs: list, jobs_root: Path) -> None:
    folders = set()
    for job in jobs:
        assert job.config is not None
        out = Path(job.config.output.out_dir).resolve()
        assert out.is_relative_to(jobs_root), (job.dataset, job.pipeline, out)
        assert len(out.relative_to(jobs_root).parts) >= 3, (job.dataset, job.pipeline, out)
        folders.add(str(out).casefold())
    assert len(folders) == len(jobs), "two jobs share a folder"


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_refused_with_the_rule(name):
    for field, build in (
        ("benchmark name", lambda: _config(["d"], ["p"], name=name)),
        ("dataset name", lambda: _config([name], ["p"])),
        ("label", lambda: _config(["d"], [name])),
    ):
        with pytest.raises(ValidationError, match=f"{field} .*start with a letter or digit"):
            build()


def test_valid_names_give_distinct_job_folders_under_the_bench_directory_or_a_clash_error(tmp_path):
    jobs_root = (tmp_path / "bench" / "jobs").resolve()
    names = _random_names(400, seed=0, valid=True)
    rng = random.Random(1)
    outcomes = {"clash": 0, "planned": 0}
    for _ in range(150):
        datasets, labels = list(dict.fromkeys(rng.sample(names, 2))), list(dict.fromkeys(rng.sample(names, 3)))
        if any(len({slug(n).casefold() for n in group}) < len(group) for group in (datasets, labels)):
            with pytest.raises(ValidationError, match="would share one job folder"):
                _config(datasets, labels)
            outcomes["clash"] += 1
            continue
        _assert_under(plan_jobs(_config(datasets, labels), tmp_path / "bench"), jobs_root)
        outcomes["planned"] += 1
    assert min(outcomes.values()) >= 10, outcomes


def test_any_name_that_skips_validation_still_stays_under_the_bench_directory(tmp_path):
    valid = _config(["d", "e"], ["p", "q"])
    for name in _random_names(100, seed=3):
        for update in (
            {"datasets": (valid.datasets[0].model_copy(update={"name": name}), valid.datasets[1])},
            {"pipelines": (valid.pipelines[0].model_copy(update={"label": name}), valid.pipelines[1])},
        ):
            try:
                jobs = plan_jobs(valid.model_copy(update=update), tmp_path / "bench")
            except ConfigError:
                continue
            _assert_under(jobs, (tmp_path / "bench" / "jobs").resolve())


def test_slug_is_one_safe_component_or_an_error():
    root = Path("/tmp/root")
    for text in _random_names(300, seed=2):
        if not re.search(r"[A-Za-z0-9+]", text):
            with pytest.raises(ValueError, match="no usable folder name"):
                slug(text)
            continue
        folder = slug(text)
        assert folder not in ("", ".", ".."), text
        assert not folder.startswith((".", "-", "_")), text
        assert all(c.isascii() and (c.isalnum() or c in "._+-") for c in folder), (text, folder)
        assert inside(root, root / folder) == root / folder


@pytest.mark.parametrize(
    ("label", "folder"),
    [
        ("MedSAM+zscore (box)", "MedSAM+zscore_box"),
        ("RASALoRE (zscore + LiteMedSAM)", "RASALoRE_zscore_+_LiteMedSAM"),
        ("U-Net on zscore masks (reference)", "U-Net_on_zscore_masks_reference"),
        ("zscore + unet", "zscore_+_unet"),
        ("Yoo et al. (T2)", "Yoo_et_al._T2"),
        ("brats2018-demo", "brats2018-demo"),
    ],
)
def test_slugs_of_existing_labels_are_unchanged(label, folder):
    assert slug(label) == folder


@pytest.mark.parametrize("bench", sorted(p.parent for p in (REPO / "docs" / "results").glob("*/bench.yaml")))
def test_committed_benchmarks_still_validate_and_find_their_job_folders(bench):
    config = load_bench_config(bench / "bench.yaml")
    expected = {job.job_id for job in plan_jobs(config, bench)}
    committed = {str(p.parent.relative_to(bench / "jobs")) for p in (bench / "jobs").glob("**/summary.json")}
    assert committed, "the committed benchmark has job folders"
    assert committed <= expected


@pytest.mark.parametrize(("first", "second"), [("a b", "a_b"), ("A (b)", "A b"), ("AE", "ae"), ("x", "x ")])
def test_names_sharing_a_folder_are_an_error_naming_both(first, second):
    with pytest.raises(
        ValidationError, match=re.escape(f"pipeline names '{first}' and '{second}' would share one job folder")
    ):
        _config(["d"], [first, second])
    with pytest.raises(
        ValidationError, match=re.escape(f"dataset names '{first}' and '{second}' would share one job folder")
    ):
        _config([first, second], ["p"])
    assert folder_clashes([first, second, "other"]) == [(first, second)]


def test_plan_jobs_backstop_catches_configurations_built_without_validation(tmp_path):
    valid = _config(["d"], ["p", "q"])
    clash = valid.model_copy(
        update={"pipelines": (valid.pipelines[0], valid.pipelines[1].model_copy(update={"label": "p"}))}
    )
    with pytest.raises(ConfigError, match="would share the folder jobs/d/p"):
        plan_jobs(clash, tmp_path)
    escaping = valid.model_copy(update={"datasets": (valid.datasets[0].model_copy(update={"name": ".."}),)})
    with pytest.raises(ConfigError, match="no usable folder name"):
        plan_jobs(escaping, tmp_path)


@pytest.mark.parametrize("path", ["../x", "../../x", "/tmp/x", ".", "", "a/../../x"])
def test_inside_refuses_paths_that_leave_the_root(tmp_path, path):
    with pytest.raises(ConfigError, match="not inside"):
        inside(tmp_path / "root", tmp_path / "root" / path)


def test_bench_cli_refuses_a_traversing_name_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "bench.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "../../escaped",
                "datasets": [{"name": "d", "source": "demo"}],
                "pipelines": [{"label": "p", "generator": {"name": "zscore"}}],
            }
        )
    )
    code = main(["bench", str(config)])
    err = capsys.readouterr().err
    assert code != 0
    assert "benchmark name '../../escaped'" in err
    assert not (tmp_path / "runs").exists()
    assert not (tmp_path.parent / "escaped").exists()
