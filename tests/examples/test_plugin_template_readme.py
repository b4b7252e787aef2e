"""The plugin template's README, steps 3-5, run verbatim in a fresh environment on a copy of the template.

The environment is a new virtual environment that sees this checkout's installed packages (torch, wsad and
its plugins) through a ``.pth`` file, so nothing is downloaded and the template is installed only there:
the environment the tests run in never sees it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "examples" / "plugin-template"

_SCRIPTS = {  # console scripts of the fresh environment, as pip writes them
    "pip": "from pip._internal.cli.main import main",
    "wsad": "from wsad_core.cli import main",
    "pytest": "from pytest import console_main as main",
}


def _readme_commands() -> dict[str, str]:
    """The shell commands of steps 3-5, taken from the README text."""
    text = (TEMPLATE / "README.md").read_text(encoding="utf-8")
    install = re.search(r"`(pip install -e \.)`", text)
    plugins = re.search(r"`(wsad plugins)` lists it", text)
    tests = re.search(r"`(pytest tests/)` runs", text)
    bench = re.search(r"^\s+(wsad bench bench\.yaml .*--only 'Template\*')\s+#", text, re.MULTILINE)
    found = {"install": install, "plugins": plugins, "tests": tests, "bench": bench}
    missing = [name for name, match in found.items() if match is None]
    assert not missing, f"the template README no longer has the step(s) {missing}: update this test with it"
    return {name: match.group(1) for name, match in found.items() if match is not None}


def _fresh_environment(root: Path) -> Path:
    """A venv whose site-packages also loads this environment's (``site.addsitedir`` runs their .pth files)."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    here = sysconfig.get_paths()["purelib"]
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site_packages = venv / "lib" / version / "site-packages"
    (site_packages / "_wsad_parent_env.pth").write_text(f"import site; site.addsitedir({here!r})\n")
    python = venv / "bin" / "python"
    for name, entry in _SCRIPTS.items():
        script = venv / "bin" / name
        script.write_text(f"#!{python}\nimport sys\n{entry}\nsys.exit(main())\n")
        script.chmod(0o755)
    return venv


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell and venv layout")
def test_the_template_readme_steps_pass_verbatim(real_root: Path, tmp_path: Path) -> None:
    commands = _readme_commands()
    # Step 1 copies the folder; bench.yaml's data path is relative to it, so the copy sits where the
    # shared data are at the same relative place (step 5: "edit it to your data").
    work = tmp_path / "a" / "b" / "plugin-template"
    shutil.copytree(TEMPLATE, work, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", "runs"))
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "shared" / "data" / "brats2018_demo").symlink_to(real_root)
    venv = _fresh_environment(tmp_path)
    environment = {
        **os.environ,
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(venv),
        "PIP_NO_BUILD_ISOLATION": "0",  # build with this environment's setuptools: nothing to download
        "PIP_NO_INDEX": "1",
        "WSAD_CACHE": str(tmp_path / "cache"),
        "NO_COLOR": "1",
    }
    environment.pop("PYTHONPATH", None)

    def step(command: str) -> str:
        done = subprocess.run(
            ["bash", "-c", command], cwd=work, env=environment, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, f"`{command}` failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout

    step(commands["install"])
    listed = step(commands["plugins"])
    assert "template-bright" in listed
    assert "template-smooth" in listed
    step(commands["tests"])
    step(commands["bench"])
    summary = (work / "runs" / "mine" / "summary.md").read_text(encoding="utf-8")
    assert "Template (bright + smooth)" in summary
    assert "Template generator alone" in summary
    # the environment the test suite runs in never saw the template
    probe = subprocess.run([sys.executable, "-m", "wsad_core", "plugins"], capture_output=True, text=True)
    assert "template-bright" not in probe.stdout
