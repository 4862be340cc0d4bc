"""Dependencies: pip-audit over the environment the tests run in (every extra is installed there), against the
Python Packaging Advisory Database served by PyPI. Skipped, saying why, when PyPI cannot be reached."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

# Advisories judged not to apply, each with the reason (none so far). An entry here needs a reason a reviewer
# can check, e.g. "the vulnerable function is never called: …".
IGNORED: dict[str, str] = {}


def _offline_reason() -> str | None:
    """Why pip-audit cannot work here, or None. It asks PyPI about each installed release
    (``/pypi/NAME/VERSION/json``, which carries the release's advisories); a mirror or proxy that answers only
    the project pages would make every package "not found" and the audit vacuous."""
    probe = f"https://pypi.org/pypi/httpx/{version('httpx')}/json"
    try:
        response = httpx.get(probe, timeout=10)
    except httpx.HTTPError as exc:
        return f"pip-audit needs PyPI's vulnerability data and {probe} cannot be reached ({exc})"
    if response.status_code != 200 or "vulnerabilities" not in response.json():
        return f"the PyPI reached from here does not serve per-release vulnerability data ({probe}: {response.status_code})"
    return None


@pytest.mark.slow
def test_no_installed_dependency_has_a_known_vulnerability(tmp_path: Path) -> None:
    reason = _offline_reason()
    if reason:
        pytest.skip(reason)
    report = tmp_path / "audit.json"
    command = [sys.executable, "-m", "pip_audit", "--skip-editable", "--progress-spinner", "off"]
    command += ["--format", "json", "--output", str(report), "--cache-dir", str(tmp_path / "cache")]
    for advisory in IGNORED:
        command += ["--ignore-vuln", advisory]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert report.exists(), f"pip-audit failed to run (exit {run.returncode}): {run.stderr[-2000:]}"
    dependencies = json.loads(report.read_text(encoding="utf-8"))["dependencies"]
    # The audit saw the environment: the project's own direct dependencies are among what it checked.
    audited = {d["name"].lower() for d in dependencies if "skip_reason" not in d}
    assert {"ctranslate2", "starlette", "uvicorn", "redis", "transformers"} <= audited
    found = [
        f"{d['name']} {d['version']}: {v['id']} (fixed in {', '.join(v.get('fix_versions') or ['no release yet'])})"
        for d in dependencies
        for v in d.get("vulns", [])
        if v["id"] not in IGNORED
    ]
    assert found == [], "known vulnerabilities in installed dependencies:\n" + "\n".join(found)
