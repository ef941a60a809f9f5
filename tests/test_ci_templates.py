"""The CI templates a user's repository copies (ci/github-actions.yml, ci/gitlab-ci.yml), run step by step.

Each template's shell steps run in order in a temporary clone (the tracked files, the set-up .venv linked
in) on a tiny AE-only config, as the service would run them: the main job with its gate, the report as
the artifact (report.html self-contained), then the comparison with the target branch's report. The
steps that reach the hosting service (downloading the target branch's artifact with `gh` or the GitLab
API) are replaced by placing that report where they would put it: here the run's own, so the comparison
must find no regression.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.pipeline_helpers import TINY

ROOT = Path(__file__).resolve().parents[1]
AE_ONLY = {
    **TINY,
    "run": {"name": "ci", "studies": [], "models": ["ae"]},
    "quantize": {"ae": {"epochs": 1}},
}


def _github_steps(text: str) -> list[tuple[str, str]]:
    """(name, shell) of each `run` step of the workflow's job; the download step becomes a marker."""
    job = next(iter(yaml.safe_load(text)["jobs"].values()))
    steps = []
    for step in job["steps"]:
        if "run" not in step:
            continue
        steps.append(
            (step.get("id", step.get("name", "")), "FETCH" if step.get("id") == "baseline" else step["run"])
        )
    return steps


def _gitlab_steps(text: str) -> list[tuple[str, str]]:
    """(job, shell) of each script line of the pipeline's jobs in stage order; the API download a marker."""
    config = yaml.safe_load(text)
    jobs = [(name, job) for name, job in config.items() if isinstance(job, dict) and "script" in job]
    jobs.sort(key=lambda item: config["stages"].index(item[1]["stage"]))
    return [
        (name, "FETCH" if "CI_API_V4_URL" in line else line) for name, job in jobs for line in job["script"]
    ]


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """The tracked files in a temporary folder, with the set-up .venv linked in and the tiny config."""
    import hashlib

    # the clone's `scripts/setup.sh` must find the linked .venv complete: a reinstall would point it at the clone
    stamp = (ROOT / ".venv" / ".l1ad-installed").read_text().strip()
    inputs = (ROOT / "pyproject.toml").read_bytes() + (ROOT / "requirements.lock").read_bytes()
    assert stamp == hashlib.sha256(inputs).hexdigest()[:16], "run scripts/setup.sh"
    folder = tmp_path_factory.mktemp("clone")
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
    for name in filter(None, files.stdout.split("\0")):
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, target)
    (folder / ".venv").symlink_to(ROOT / ".venv")
    (folder / "ci.yaml").write_text(yaml.safe_dump(AE_ONLY))
    return folder


@pytest.mark.parametrize(
    ("template", "steps_of"), [("github-actions.yml", _github_steps), ("gitlab-ci.yml", _gitlab_steps)]
)
def test_template_steps_run_the_main_job_and_compare(template, steps_of, clone, tmp_path) -> None:
    run_dir = clone / "runs" / "ci"
    env = {
        **os.environ,
        "L1AD_CONFIG": "ci.yaml",
        "L1AD_RUN_DIR": "runs/ci",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    steps = steps_of((ROOT / "ci" / template).read_text())
    assert any("ci/ci.sh main" in shell for _, shell in steps) and any("FETCH" == shell for _, shell in steps)
    for name, shell in steps:
        if shell == "FETCH":  # the target branch's report, as the service would have downloaded it
            report = run_dir / "report" / "report.json"
            for where in (clone / "baseline" / "report.json", clone / "baseline.json"):
                where.parent.mkdir(exist_ok=True)
                shutil.copy(report, where)
            continue
        done = subprocess.run(["bash", "-c", shell], cwd=clone, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{template} step {name}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
        if "ci/ci.sh main" in shell:
            assert "[check] passed" in done.stdout
            assert 'src="data:image/png;base64,' in (run_dir / "report" / "report.html").read_text()
    assert "**No regression.**" in (run_dir / "compare.md").read_text()
    if template == "github-actions.yml":
        assert "| ae | Ato4l | AUC csim |" in (tmp_path / "summary.md").read_text()
