"""The command line: user errors print a message and exit non-zero, without a traceback."""

import subprocess
import sys


def _run(*args):
    return subprocess.run([sys.executable, "-m", "winback", *args],
                          capture_output=True, text=True, timeout=120)


def test_params_prints_the_merged_params():
    res = _run("params", "-e", "demo", "--set", "engagement.language=en")
    assert res.returncode == 0, res.stderr
    assert "language: en" in res.stdout and "# merged from params/default.yaml" in res.stdout


def test_bad_override_is_a_clear_error_without_traceback():
    res = _run("params", "-e", "demo", "--set", "run.mnth=2024-01")
    assert res.returncode == 2
    assert "Did you mean 'run.month'" in res.stderr
    assert "Traceback" not in res.stderr


def test_bad_month_is_refused_before_running():
    res = _run("run", "-e", "demo", "-m", "2024-13", "-q")
    assert res.returncode == 2
    assert "run.month = '2024-13'" in res.stderr and "Traceback" not in res.stderr


def test_debug_flag_shows_the_traceback():
    res = _run("--debug", "params", "-e", "nosuch")
    assert res.returncode != 0 and "Traceback" in res.stderr
