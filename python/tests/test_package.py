"""The package installs offline with the system's setuptools and finds the library it is told of."""
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.dirname(HERE)


def test_import_needs_neither_torch_nor_numpy():
    code = ("import sys; sys.modules['torch'] = None; sys.modules['numpy'] = None; import descent; "
            "print(descent.version())")
    out = subprocess.run([sys.executable, "-c", code], cwd=PKG, capture_output=True, text=True, check=True)
    assert out.stdout.strip().count(".") == 2
    code = ("import sys; sys.modules['torch'] = None; import descent.optim\n"
            "try:\n    descent.optim.AdamW([])\nexcept ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], cwd=PKG, capture_output=True, text=True, check=True)
    assert "python3-torch" in out.stdout


def test_missing_library_is_a_clear_error(tmp_path):
    env = dict(os.environ, DESCENT_LIBRARY=str(tmp_path / "nope.so"), PYTHONPATH=PKG)
    out = subprocess.run([sys.executable, "-c", "import descent"], env=env, capture_output=True, text=True)
    assert out.returncode != 0
    assert "cannot load libdescent" in out.stderr and "DESCENT_LIBRARY" in out.stderr


def test_pip_install_offline(tmp_path):
    import importlib.util
    for mod, pkg in (("pip", "python3-pip"), ("setuptools", "python3-setuptools")):
        if importlib.util.find_spec(mod) is None:  # found, not imported: pip runs in its own process
            pytest.skip("%s (%s) is not installed" % (mod, pkg))
    src = tmp_path / "src"
    shutil.copytree(PKG, src, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info", "tests", "bench"))
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-index",
                    "--disable-pip-version-check", "--no-compile", "--no-deps", "--target", str(target), str(src)], check=True,
                   capture_output=True)
    from descent._lib import lib
    env = dict(os.environ, PYTHONPATH=str(target), DESCENT_LIBRARY=os.path.abspath(lib._name))
    code = "import descent; print(descent.__file__); print(descent._lib.lib._name)"
    out = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path),
                         env=env, capture_output=True, text=True, check=True)
    where, library = out.stdout.strip().splitlines()[-2:]
    assert where.startswith(str(target)) and library == env["DESCENT_LIBRARY"], out.stdout
