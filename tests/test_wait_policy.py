"""The command line makes idle OpenMP threads sleep (before torch loads OpenMP), unless the
environment already chose a wait policy."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = (
    "import atr_bench.cli, os, sys; print(os.environ['OMP_WAIT_POLICY'], 'torch' in sys.modules)"
)
"""Importing the command line's package sets the policy, and torch is not loaded yet."""


@pytest.mark.parametrize(("given", "seen"), [(None, "PASSIVE"), ("active", "active")])
def test_wait_policy_defaults_to_passive_and_respects_the_environment(given, seen):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == [seen, "False"]
