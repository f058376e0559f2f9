"""Fixtures shared by the tests."""

import os
import subprocess
import sys

import pytest


@pytest.fixture
def run_script(tmp_path):
    """Run a Python file in a fresh interpreter inside ``tmp_path``, off-screen; it must exit 0.

    ``run_script(path, *args, **env)`` returns the finished process (stdout as text).
    """

    def run(path, *args, **env):
        done = subprocess.run([sys.executable, str(path), *map(str, args)], cwd=tmp_path,
                              env=dict(os.environ, MPLBACKEND="Agg", **env),
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    return run
