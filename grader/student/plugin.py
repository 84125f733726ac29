"""The pytest plugin that grades an implementation of the kit's contract (CONTRACT.md).

Options live in their own group with matching ini keys; markers are registered here, one per
exercise; the graded implementation and device are kept in ``config.stash`` and shown in the header.
"""

from dataclasses import dataclass

import pytest
import torch

from grader.device import CHOICES as DEVICE_CHOICES
from grader.student.explain import explain
from grader.impl import Implementation, ImplementationError
from grader.judges.rubric import BY_MARKER, EXERCISES, OTHER_MARKERS
from grader.student.scoreboard import Scoreboard, check_points


@dataclass
class GradingState:
    impl: Implementation
    device: str
    require_gpu: bool
    scoreboard: Scoreboard


state_key = pytest.StashKey[GradingState]()


def pytest_addoption(parser):
    group = parser.getgroup("gptkit", "Let's build GPT grading")
    group.addoption(
        "--impl", dest="gptkit_impl", default=None, metavar="exercises|solutions|PATH",
        help="what to grade: the kit's exercises/ (default), solutions/, or a folder shaped like exercises/",
    )
    group.addoption(
        "--device", dest="gptkit_device", default=None, choices=DEVICE_CHOICES,
        help="where the checks run: auto (CUDA if available, default), cpu or cuda",
    )
    group.addoption(
        "--require-gpu", dest="gptkit_require_gpu", action="store_true", default=None,
        help="fail, instead of skip, the GPU checks when CUDA is not available (for GPU runners)",
    )
    parser.addini("gptkit_impl", "default for --impl", default="exercises")
    parser.addini("gptkit_device", "default for --device", default="auto")
    parser.addini("gptkit_require_gpu", "default for --require-gpu", type="bool", default=False)


def _option(config, name):
    value = config.getoption(name)
    return config.getini(name) if value is None else value


def _resolve_device(requested):
    from grader.device import DeviceError, resolve

    try:
        return resolve(requested)
    except DeviceError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_configure(config):
    for ex in EXERCISES:
        config.addinivalue_line("markers", f"{ex.marker}: Exercise {ex.number}, {ex.title} ({ex.module}.py)")
    for marker, description in OTHER_MARKERS.items():
        config.addinivalue_line("markers", f"{marker}: {description}")
    try:
        impl = _provided_impl(config) or Implementation(_option(config, "gptkit_impl"))
    except ImplementationError as exc:
        raise pytest.UsageError(str(exc)) from None
    state = GradingState(
        impl=impl,
        device=_resolve_device(_option(config, "gptkit_device")),
        require_gpu=bool(_option(config, "gptkit_require_gpu")),
        scoreboard=Scoreboard(impl.label),
    )
    config.stash[state_key] = state
    config.pluginmanager.register(state.scoreboard, "gptkit-scoreboard")


def _provided_impl(config):
    """The implementation a plugin object provides (teacher mode's judge, grader/sandbox/remote.py), or None."""
    for plugin in config.pluginmanager.get_plugins():
        impl = getattr(plugin, "gptkit_impl", None)
        if impl is not None:
            return impl
    return None


def pytest_unconfigure(config):
    state = config.stash.get(state_key, None)
    if state is not None and hasattr(state.impl, "close"):
        state.impl.close()


def pytest_report_header(config):
    state = config.stash[state_key]
    device = state.device
    if device.startswith("cuda"):
        device += f" ({torch.cuda.get_device_name()})"
    return [
        f"gptkit: grading {state.impl.label} ({state.impl.path})",
        f"gptkit: device {device}, torch {torch.__version__}",
    ]


def exercise_of(item):
    for mark in item.iter_markers():
        if mark.name in BY_MARKER:
            return BY_MARKER[mark.name]
    return None


def pytest_collection_modifyitems(config, items):
    state = config.stash[state_key]
    # Lecture order, so a student reads the failures in the order of the exercises (a stable sort).
    items.sort(key=lambda item: exercise_of(item).number if exercise_of(item) else 0)
    points = check_points(items, exercise_of)
    for item in items:
        ex = exercise_of(item)
        if ex is not None:
            state.scoreboard.add(item, ex, points[item.nodeid])
            item.user_properties.append(("points", points[item.nodeid]))
        if item.get_closest_marker("gpu") and state.device != "cuda":
            reason = "needs CUDA, and this machine has none (or --device cpu was given)"
            if not state.require_gpu:
                item.add_marker(pytest.mark.skip(reason=reason + "; --require-gpu makes this a failure"))


def pytest_runtest_setup(item):
    state = item.config.stash[state_key]
    if item.get_closest_marker("gpu") and state.device != "cuda" and state.require_gpu:
        pytest.fail("--require-gpu was given, but CUDA is not available here (or --device cpu was given)",
                    pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    config = item.config
    if report.failed and call.excinfo is not None and not _wants_full_traceback(config):
        state = config.stash[state_key]
        explanation = explain(call.excinfo, state.impl.path, exercise_of(item))
        if explanation is not None:
            report.longrepr = explanation
    return report


def _wants_full_traceback(config):
    return config.getoption("tbstyle", "auto") in ("long", "native") or config.getoption("fulltrace", False)


# The fixtures that the graded checks use.

@pytest.fixture(scope="session")
def impl(pytestconfig):
    """The graded implementation (exercises/, solutions/ or a submitted folder)."""
    return pytestconfig.stash[state_key].impl


@pytest.fixture(scope="session")
def device(pytestconfig):
    """``"cpu"`` or ``"cuda"``: where the checks put models and tensors."""
    return pytestconfig.stash[state_key].device


@pytest.fixture(scope="session")
def shakespeare():
    """The text of Tiny Shakespeare, or a failure that says how to obtain it."""
    from grader.data import DataError, load_text

    try:
        return load_text(download=True)
    except DataError as exc:
        pytest.fail(str(exc), pytrace=False)
