"""The pytest plugin that grades an implementation of the kit's contract (CONTRACT.md).

Options live in their own group with matching ini keys; markers are registered here, one per
exercise; the graded implementation and device are kept in ``config.stash`` and shown in the header.
"""

import json
from dataclasses import dataclass

import pytest
import torch

from grader.device import CHOICES as DEVICE_CHOICES
from grader.failure import GradingFailure
from grader.student.explain import NOT_IMPLEMENTED, Explanation, explain
from grader.impl import Implementation, ImplementationError
from grader.rubric import BY_MARKER, EXERCISES, EXTRAS_SPAN, OTHER_MARKERS
from grader.student.scoreboard import Scoreboard, check_points
from grader.student.voice import CHOICES as VOICES, voice as make_voice


@dataclass
class GradingState:
    impl: Implementation
    device: str
    require_gpu: bool
    extras: bool
    voice: object  # grader/student/voice.py: Terminal or Notebook
    scoreboard: Scoreboard
    pictures_json: str  # where to write the pictures shown in full under the table, or "" (see --pictures-json)


state_key = pytest.StashKey[GradingState]()


def pytest_addoption(parser):
    group = parser.getgroup("gptkit", "Let's build GPT grading")
    group.addoption(
        "--impl", dest="gptkit_impl", default=None, metavar="exercises|solutions|PATH",
        help="what to grade: the kit's exercises/ (default), solutions/, or a folder shaped like exercises/",
    )
    group.addoption(
        "--device", dest="gptkit_device", default=None, choices=DEVICE_CHOICES,
        help="where the checks run: auto (default: CUDA if available, else the CPU), cpu, cuda or mps",
    )
    group.addoption(
        "--extras", dest="gptkit_extras", action="store_true", default=None,
        help=f"grade the extras ({EXTRAS_SPAN}) too; without it they run only when named with -m or by file",
    )
    group.addoption(
        "--voice", dest="gptkit_voice", default=None, choices=VOICES,
        help="how messages name places and commands: terminal (files, pytest -m) or notebook (cells, "
             "grade(globals(), ...)); the notebook edition asks for notebook",
    )
    group.addoption(
        "--require-gpu", dest="gptkit_require_gpu", action="store_true", default=None,
        help="fail, instead of skip, the GPU checks when CUDA is not available (for GPU runners)",
    )
    group.addoption(
        "--pictures-json", dest="gptkit_pictures_json", default=None, metavar="PATH",
        help="write the attention picture of the failure shown in full under the table, as written and with "
             "the weights it was drawn from, to this JSON file (the notebook edition draws it as an image)",
    )
    parser.addini("gptkit_impl", "default for --impl", default="exercises")
    parser.addini("gptkit_device", "default for --device", default="auto")
    parser.addini("gptkit_extras", "default for --extras", type="bool", default=False)
    parser.addini("gptkit_voice", "default for --voice", default="terminal")
    parser.addini("gptkit_require_gpu", "default for --require-gpu", type="bool", default=False)
    parser.addini("gptkit_pictures_json", "default for --pictures-json", default="")


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
    voice = make_voice(_option(config, "gptkit_voice"))
    state = GradingState(
        impl=impl,
        device=_resolve_device(_option(config, "gptkit_device")),
        require_gpu=bool(_option(config, "gptkit_require_gpu")),
        extras=bool(_option(config, "gptkit_extras")),
        voice=voice,
        scoreboard=Scoreboard(voice.label or impl.label, voice),
        pictures_json=_option(config, "gptkit_pictures_json"),
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
    if state is None:
        return
    if state.pictures_json:
        with open(state.pictures_json, "w", encoding="utf-8") as file:
            json.dump(state.scoreboard.pictures_shown, file)  # NaN and infinities as Python's json reads them
    if hasattr(state.impl, "close"):
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
    _leave_out_unasked_extras(config, items, state)
    # Lecture order, so a student reads the failures in the order of the exercises (a stable sort).
    items.sort(key=lambda item: exercise_of(item).number if exercise_of(item) else 0)
    points = check_points(items, exercise_of)
    for item in items:
        ex = exercise_of(item)
        if ex is not None:
            state.scoreboard.add(item, ex, points[item.nodeid])
            item.user_properties.append(("points", points[item.nodeid]))
        if _needs_missing_gpu(item, state):
            reason = "needs CUDA, and this machine has none (or --device cpu or mps was given)"
            if not state.require_gpu:
                item.add_marker(pytest.mark.skip(reason=reason + "; --require-gpu makes this a failure"))


def _needs_missing_gpu(item, state):
    """A GPU check where the checks do not run on CUDA: skipped, or with --require-gpu a failure."""
    return item.get_closest_marker("gpu") is not None and not state.device.startswith("cuda")


def _leave_out_unasked_extras(config, items, state):
    """Plain ``pytest`` grades the core, so it exits 0 once the core is done; the extras run when asked
    for: ``--extras``, a ``-m`` expression, or their check file (or one of its checks) given by path."""
    if state.extras or config.option.markexpr:
        return
    named = {(config.invocation_params.dir / arg.split("::")[0]).resolve() for arg in config.args}
    kept, left_out = [], []
    for item in items:
        ex = exercise_of(item)
        unasked = ex is not None and ex.track == "extra" and item.path.resolve() not in named
        (left_out if unasked else kept).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept
        state.scoreboard.extras_left_out = True


def pytest_runtest_setup(item):
    state = item.config.stash[state_key]
    if _needs_missing_gpu(item, state) and state.require_gpu:
        pytest.fail("--require-gpu was given, but CUDA is not available here (or --device cpu or mps was given)",
                    pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    config = item.config
    if report.failed and call.excinfo is not None:
        state = config.stash[state_key]
        report.gptkit_mistake = GradingFailure.named_in(call.excinfo.value)  # as data, for the table
        if isinstance(call.excinfo.value, MissingData):
            _explain_missing_data(report, state.scoreboard, call.excinfo.value)
        elif not _wants_full_traceback(config):
            explanation = explain(call.excinfo, state.impl.path, exercise_of(item), state.voice)
            if explanation is not None:
                report.longrepr = explanation
                report.gptkit_kind = explanation.kind
    return report


def pytest_report_teststatus(report, config):
    """A stub's check is counted and shown as "not implemented", not as a failure with a report of its
    own: a new student sees one line per exercise in the table, not a page per check. It still fails
    (the exit code and the points are those of a failure)."""
    kind = getattr(report, "gptkit_kind", None) if report.failed else None
    if kind == NOT_IMPLEMENTED:
        return NOT_IMPLEMENTED, "n", "NOT IMPLEMENTED"
    if kind == NO_DATA:
        return NO_DATA, "d", "NO DATA"
    return None


NO_DATA = "without data"  # how the checks after the first that missed Tiny Shakespeare are counted


class MissingData(GradingFailure):
    """Tiny Shakespeare could not be obtained; the message says how to get it."""


def _explain_missing_data(report, scoreboard, exc):
    """The full message for the first check that needs the data; each after it is one line, counted
    "without data" (the scoreboard remembers, and its next: line says to get the data)."""
    if scoreboard.data_missing:
        report.gptkit_kind = NO_DATA
        report.longrepr = Explanation("needs Tiny Shakespeare, which could not be obtained (the first check "
                                      "that needed it says why)")
        return
    scoreboard.data_missing = True
    report.longrepr = Explanation(str(exc))


def _wants_full_traceback(config):
    return config.getoption("tbstyle", "auto") in ("long", "native") or config.getoption("fulltrace", False)


# The fixtures that the graded checks use.

@pytest.fixture(scope="session")
def impl(pytestconfig):
    """The graded implementation (exercises/, solutions/ or a submitted folder)."""
    return pytestconfig.stash[state_key].impl


@pytest.fixture(scope="session")
def device(pytestconfig):
    """``"cpu"``, ``"cuda"`` (or ``"cuda:N"``) or ``"mps"``: where the checks put models and tensors."""
    return pytestconfig.stash[state_key].device


@pytest.fixture(scope="session")
def shakespeare():
    """The text of Tiny Shakespeare, or a failure that says how to obtain it."""
    from grader.data import DataError, load_text

    try:
        return load_text(download=True)
    except DataError as exc:
        raise MissingData(str(exc)) from None
