"""A plugin raising SystemExit (or another BaseException) is isolated like any broken plugin."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from tests.core import _fake_plugins as fake
from wsad_core import PluginHost, PluginLoadError

REPO = Path(__file__).resolve().parents[2]

EXITS_AT_IMPORT = "raise SystemExit(3)\n"

EXITS_IN_HOOK = (
    fake.SPEC_HEADER
    + """
@hookimpl
def wsad_register_generators():
    raise SystemExit("no generators today")
"""
)

EXITS_IN_COMMAND_HOOK = """
from wsad_core import hookimpl

@hookimpl
def wsad_register_commands(cli):
    raise SystemExit(4)
"""


def _plugin_file(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return path


def _plugins_path(monkeypatch: pytest.MonkeyPatch, *paths: Path) -> None:
    monkeypatch.setenv("WSAD_PLUGINS_PATH", os.pathsep.join(str(p) for p in paths))


@pytest.mark.parametrize(
    ("source", "expected"),
    [(EXITS_AT_IMPORT, "SystemExit: 3"), (EXITS_IN_HOOK, "SystemExit: no generators today")],
    ids=["at-import", "in-registration-hook"],
)
def test_a_plugin_raising_systemexit_is_recorded_and_the_others_keep_working(tmp_path, monkeypatch, source, expected):
    _plugins_path(
        monkeypatch, _plugin_file(tmp_path, "exiting_plugin", source), _plugin_file(tmp_path, "good_one", fake.GOOD)
    )
    host = PluginHost(entry_points=False, disabled=())
    states = {s.name: s for s in host.statuses()}
    assert states["exiting_plugin"].state == "failed"
    assert states["exiting_plugin"].error == expected
    assert states["good_one"].state == "ok"
    assert host.get("generator", "bright").name == "bright"
    if source == EXITS_AT_IMPORT:
        assert "wsad_plugin_file_exiting_plugin" not in sys.modules, "no half-imported module is left behind"


def test_other_base_exceptions_are_isolated_too_but_not_ctrl_c(tmp_path, monkeypatch):
    custom = "class Stop(BaseException):\n    pass\nraise Stop('odd plugin')\n"
    _plugins_path(monkeypatch, _plugin_file(tmp_path, "odd_plugin", custom))
    host = PluginHost(entry_points=False, disabled=())
    assert {s.name: s.error for s in host.statuses()} == {"odd_plugin": "Stop: odd plugin"}

    _plugins_path(monkeypatch, _plugin_file(tmp_path, "ctrl_c_plugin", "raise KeyboardInterrupt\n"))
    with pytest.raises(KeyboardInterrupt):
        PluginHost(entry_points=False, disabled=())


def test_strict_mode_reports_systemexit_as_a_plugin_error(tmp_path, monkeypatch):
    _plugins_path(monkeypatch, _plugin_file(tmp_path, "exiting_plugin", EXITS_AT_IMPORT))
    with pytest.raises(PluginLoadError, match="SystemExit: 3"):
        PluginHost(entry_points=False, disabled=(), strict=True)


def test_a_command_hook_raising_systemexit_is_logged_and_skipped(tmp_path, monkeypatch, caplog):
    _plugins_path(monkeypatch, _plugin_file(tmp_path, "exiting_commands", EXITS_IN_COMMAND_HOOK))
    host = PluginHost(entry_points=False, disabled=())
    group = click.Group("wsad")
    with caplog.at_level(logging.WARNING, logger="wsad.plugins"):
        host.register_commands(group)
    assert "exiting_commands failed in wsad_register_commands: SystemExit: 4" in caplog.text


def _wsad(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = "import sys; from wsad_core.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, cwd=REPO, timeout=300
    )


def test_wsad_plugins_and_wsad_run_survive_a_plugin_that_exits_at_import(tmp_path, phantom_dataset):
    exiting = _plugin_file(tmp_path, "exiting_plugin", EXITS_AT_IMPORT)
    commands = _plugin_file(tmp_path, "exiting_commands", EXITS_IN_COMMAND_HOOK)
    env = {
        **os.environ,
        "WSAD_PLUGINS_PATH": os.pathsep.join([str(exiting), str(commands)]),
        "WSAD_CACHE": str(tmp_path / "cache"),
    }
    listing = _wsad("plugins", "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    report = json.loads(listing.stdout)
    states = {p["name"]: p for p in report["plugins"]}
    assert (states["exiting_plugin"]["state"], states["exiting_plugin"]["error"]) == ("failed", "SystemExit: 3")
    assert states["exiting_commands"]["state"] == "ok"
    assert {("generator", "zscore"), ("segmenter", "unet")} <= {(s["role"], s["name"]) for s in report["specs"]}

    table = _wsad("plugins", env=env)
    assert table.returncode == 0, table.stderr
    assert "exiting_plugin" in table.stdout
    assert "SystemExit: 3" in table.stdout

    out = tmp_path / "run"
    fast = ["size=32", "skip_first=4", "skip_last=4", "min_lesion_pixels=20"]
    overrides = [arg for item in fast for arg in ("-o", f"data.preprocess.{item}")]
    run = _wsad(
        "-q",
        "run",
        "--generator",
        "zscore",
        "--data",
        str(phantom_dataset),
        "--out",
        str(out),
        *overrides,
        "-o",
        "evaluator.per-slice.min_lesion_pixels=20",
        "--overlays",
        "0",
        "--no-progress",
        env=env,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads((out / "run.json").read_text())["status"] == "finished"
