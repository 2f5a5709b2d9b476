"""smtui as Python users install it: the wheel's package data, read wherever the package lands
(`pip install --user`, `--target`, pipx, uv tool), and the sdist's tests."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def have_setuptools() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 77


needs_setuptools = pytest.mark.skipif(not have_setuptools(),
                                      reason="building needs setuptools 77 or newer")


@pytest.mark.process
@needs_setuptools
def test_the_wheel_carries_the_subset_and_reads_it_wherever_it_is_installed(tmp_path):
    """Built, installed into a folder of its own (as --user, pipx and uv tool put it away from
    sys.prefix) and run from elsewhere: `--dataset subset` reads the 5,000 images the wheel
    holds (it said `missing data file in .../site-packages/assets/...`)."""
    wheels = tmp_path / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("smtui-*.whl")
    site = tmp_path / "user-site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q",
                                "--target", str(site), str(wheel)], capture_output=True,
                               text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr
    assert not (site / "subset_data").exists() and not (site / "share").exists()
    code = ("import tui_trainer, sys; from tui_trainer.core.data import load_fashion_mnist; "
            "d = load_fashion_mnist(None, 'subset'); "
            "print(tui_trainer.__file__); print(len(d.train_labels), len(d.test_labels))")
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("SMTUI_DATA_DIR", None)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=tmp_path, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    where, sizes = r.stdout.splitlines()
    assert where.startswith(str(site)), where    # the installed copy, not the checkout
    assert sizes == "5000 1000"


@pytest.mark.process
@needs_setuptools
def test_the_sdist_holds_what_its_tests_need(tmp_path):
    """An sdist's tests collect: conftest.py, the support package, the snapshots, the docs and
    examples the tests read (33 test modules could not be imported from it)."""
    from setuptools import build_meta   # noqa: F401  (the backend the sdist is built with)
    out = tmp_path / "dist"
    r = subprocess.run([sys.executable, "-c", "import sys; from setuptools import build_meta; "
                        f"print(build_meta.build_sdist({str(out)!r}))"],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    (sdist,) = out.glob("smtui-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
        archive.extractall(tmp_path / "src", filter="data")
    for needed in ("tests/conftest.py", "tests/__init__.py", "tests/support/__init__.py",
                   "tests/support/idx.py", "docs/learner.md", "examples/softmax_scratch.py",
                   "tui_trainer/subset_data/train-images-idx3-ubyte.gz", "Makefile"):
        assert needed in names, needed
    assert not any("__pycache__" in name for name in names)
    (src,) = (tmp_path / "src").iterdir()
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                                "-p", "no:cacheprovider"], capture_output=True, text=True,
                               cwd=src, timeout=600)
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    assert "error" not in collected.stdout.lower().split("\n")[-2], collected.stdout[-2000:]


INSTALLERS = {   # the tool's install command, and where it puts its environments and commands
    "pipx": (["pipx", "install"], {"PIPX_HOME": "home", "PIPX_BIN_DIR": "bin"}),
    "uv": (["uv", "tool", "install"], {"UV_TOOL_DIR": "home", "UV_TOOL_BIN_DIR": "bin"}),
}


@pytest.mark.process
@pytest.mark.parametrize("tool", list(INSTALLERS))
def test_installed_as_a_tool_it_trains_from_anywhere(tmp_path, tool):
    """`pipx install .` and `uv tool install .`, each into a folder of the test's, then
    `smtui --no-ui --dataset subset` from another folder: the subset comes from the installed
    package's data. Each installs torch anew (uv downloads it), so the test runs where
    SMTUI_INSTALLER_TESTS=1 asks for it and the tool is on PATH."""
    import shutil

    if os.environ.get("SMTUI_INSTALLER_TESTS") != "1":
        pytest.skip("installs torch anew: set SMTUI_INSTALLER_TESTS=1 to run it")
    command, places = INSTALLERS[tool]
    if shutil.which(command[0]) is None:
        pytest.skip(f"{command[0]} is not installed here")
    env = {**os.environ, **{name: str(tmp_path / sub) for name, sub in places.items()}}
    env.pop("SMTUI_DATA_DIR", None)
    r = subprocess.run([*command, str(ROOT)], capture_output=True, text=True, env=env,
                       timeout=1800)
    assert r.returncode == 0, r.stdout + r.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = subprocess.run([str(tmp_path / "bin" / "smtui"), "--no-ui", "--dataset", "subset",
                        "--epochs", "1", "--out", "runs"], capture_output=True, text=True,
                       cwd=elsewhere, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    said = r.stdout + r.stderr
    assert "(5000 train / 1000 test) from " + str(tmp_path / "home") in said, said
    assert "epoch 1/1" in said and len(list((elsewhere / "runs").iterdir())) == 1
