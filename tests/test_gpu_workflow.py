"""The GPU CI workflow runs what the README says, with options the kit has."""

import re

from tests.kit import KIT_ROOT

WORKFLOW = KIT_ROOT / ".github" / "workflows" / "gpu.yml"


def test_the_gpu_workflow_runs_the_gpu_checks_with_require_gpu_on_a_gpu_runner():
    text = WORKFLOW.read_text()
    assert "runs-on: [self-hosted, gpu]" in text
    runs = re.findall(r"run: (.+)", text)
    assert any("pytest --impl solutions -m gpu --require-gpu --device cuda" in r for r in runs)
    assert any("python -m grader bench --json" in r for r in runs)
    assert "\t" not in text  # YAML forbids tabs


def test_the_gpu_checks_it_selects_exist():
    checks = (KIT_ROOT / "grader" / "checks" / "test_gpt.py").read_text()
    assert checks.count("@pytest.mark.gpu") >= 2
