"""The grading plugin on made-up checks and implementations, run with pytester."""

import pytest
import torch

from grader.rubric import EXTRA_POINTS, EXTRAS_SPAN

NO_CUDA = not torch.cuda.is_available()


@pytest.fixture
def student(pytester):
    """A tiny implementation folder: one finished function, one stub, one that crashes."""
    folder = pytester.mkdir("student")
    (folder / "attention.py").write_text(
        "def finished():\n"
        "    return 42\n"
        "\n"
        "def stub():\n"
        "    # TODO: Exercise 5 — write it\n"
        '    raise NotImplementedError("Exercise 5: Head.forward")\n'
        "\n"
        "def needs_earlier():\n"
        '    raise NotImplementedError("Exercise 2: get_batch")\n'
        "\n"
        "def crashes():\n"
        "    return [1, 2][5]\n"
    )
    pytester.makepyfile(
        test_checks="""
        import pytest
        from grader.oracles.expect import fail

        pytestmark = pytest.mark.head

        def test_finished(impl):
            assert impl.get("attention", "finished")() == 42

        def test_stub(impl):
            impl.get("attention", "stub")()

        def test_needs_earlier(impl):
            impl.get("attention", "needs_earlier")()

        def test_crashes(impl):
            impl.get("attention", "crashes")()

        def test_wrong_answer(impl):
            fail(what="the answer", expected=43, got=impl.get("attention", "finished")(),
                 where=impl.where("attention", "finished"))

        def test_missing_module(impl):
            impl.module("gpt")
        """
    )
    return folder


def run(pytester, *args):
    return pytester.runpytest("-p", "grader.student.plugin", "-p", "no:cacheprovider", *args)


def test_header_names_implementation_and_device(pytester, student):
    result = run(pytester, f"--impl={student}")
    device = "cuda" if not NO_CUDA else "cpu"
    result.stdout.fnmatch_lines([f"gptkit: grading {student} ({student})", f"gptkit: device {device}*"])


def test_outcomes_and_messages(pytester, student):
    result = run(pytester, f"--impl={student}")
    # A stub's checks fail (exit code 1, no points) but are counted apart and shown in the table only.
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.re_match_lines([r"=+ 3 failed, 1 passed, .*2 not implemented in .*"])
    result.stdout.fnmatch_lines([
        "*your code raised IndexError: list index out of range",
        "*at student/attention.py:12, in crashes",
        "the answer",
        "  expected: 43",
        "  got:      42",
        "  look at:  student/attention.py, finished",
        "*student/gpt.py is missing: the graded folder needs a module gpt.py",
    ])
    assert "    return [1, 2][5]" in result.stdout.lines  # the student's line that raised
    assert "Traceback" not in result.stdout.str()
    assert "def test_stub" not in result.stdout.str()
    assert "_ test_stub _" not in result.stdout.str()  # no section of its own in the failures


def test_not_implemented_takes_one_line_each(pytester, student, monkeypatch):
    from grader.rubric import POINTS

    monkeypatch.setitem(POINTS, "head", {"test_stub": 1, "test_needs_earlier": 1})
    result = run(pytester, f"--impl={student}", "-v", "-k", "stub or needs_earlier")
    result.stdout.fnmatch_lines(["*test_stub NOT IMPLEMENTED*", "*test_needs_earlier NOT IMPLEMENTED*"])
    result = run(pytester, f"--impl={student}", "-k", "needs_earlier")
    result.stdout.fnmatch_lines([
        "*test_needs_earlier: needs Exercise 2 first: get_batch is not implemented yet (student/attention.py:9).",
    ])
    result = run(pytester, f"--impl={student}", "-k", "stub")
    result.stdout.fnmatch_lines([
        "*test_stub: not implemented yet: Exercise 5: Head.forward",
        "*fill in the TODO at student/attention.py:6, then run: pytest -m head",
    ])


def test_full_traceback_on_request(pytester, student):
    result = run(pytester, f"--impl={student}", "--tb=long", "-k", "stub")
    result.stdout.fnmatch_lines(["*def test_stub(impl):*", "E*NotImplementedError: Exercise 5: Head.forward"])


def test_summary_table_scores_points_and_says_what_to_do_next(pytester, student, monkeypatch):
    from grader.rubric import POINTS

    checks = ["test_finished", "test_stub", "test_needs_earlier", "test_crashes", "test_wrong_answer",
              "test_missing_module"]
    monkeypatch.setitem(POINTS, "head", dict(zip(checks, [4, 1, 1, 1, 1, 1])))
    result = run(pytester, f"--impl={student}")
    result.stdout.fnmatch_lines([
        "=*gptkit: *student*=",
        "*5. One head of self-attention * 4 / 9*",
        "*test_stub: not implemented yet: Exercise 5: Head.forward",
        "*fill in the TODO at student/attention.py:6, then run: pytest -m head",
        "*total 4 / 100 (of the 9 points these checks carry)",
        "next: Exercise 5, One head of self-attention, in attention.py (lecture 01:02:00*); run: pytest -m head",
    ])


def test_check_missing_from_the_rubric_is_a_warning(pytester, student):
    result = run(pytester, f"--impl={student}", "-k", "finished")
    result.stdout.fnmatch_lines(["*grader/rubric.py gives no points to head: test_finished*"])


def test_missing_implementation_is_a_usage_error(pytester):
    result = run(pytester, "--impl=/no/such/folder")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--impl /no/such/folder: no folder /no/such/folder.*exercises/*"])


def test_every_exercise_marker_is_registered(pytester):
    from grader.rubric import EXERCISES

    result = run(pytester, "--markers")
    result.stdout.fnmatch_lines_random([f"@pytest.mark.{ex.marker}: Exercise {ex.number}, *" for ex in EXERCISES])
    pytester.makepyfile(test_marked="""
        import pytest
        @pytest.mark.head
        def test_a(): pass
        @pytest.mark.no_such_exercise
        def test_b(): pass
    """)
    result = run(pytester, "--strict-markers")
    result.stdout.fnmatch_lines(["*'no_such_exercise' not found in `markers` configuration option*"])


@pytest.mark.skipif(not NO_CUDA, reason="checks what happens without CUDA")
def test_gpu_checks_skip_without_cuda_unless_required(pytester):
    pytester.makepyfile(test_gpu="""
        import pytest
        @pytest.mark.gpu
        def test_on_gpu(): pass
    """)
    result = run(pytester, "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*needs CUDA*--require-gpu makes this a failure*"])
    result = run(pytester, "--require-gpu")
    result.assert_outcomes(errors=1)  # it fails at set-up, before the check runs
    result.stdout.fnmatch_lines(["*--require-gpu was given, but CUDA is not available here*"])


@pytest.mark.skipif(not NO_CUDA, reason="checks what happens without CUDA")
def test_device_cuda_without_cuda_is_a_usage_error(pytester):
    result = run(pytester, "--device", "cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--device cuda: CUDA is not available here*"])


def test_ini_keys_set_the_defaults(pytester, student):
    pytester.makeini(f"[pytest]\ngptkit_impl = {student}\ngptkit_device = cpu\n")
    result = run(pytester, "-k", "finished")
    result.stdout.fnmatch_lines([f"gptkit: grading {student}*", "gptkit: device cpu*"])
    result.assert_outcomes(passed=1)


def test_extras_are_scored_apart_from_the_core_and_come_after_it(pytester, student, monkeypatch):
    from grader.rubric import POINTS

    monkeypatch.setitem(POINTS, "head", {"test_finished": 4, "test_stub": 1})
    monkeypatch.setitem(POINTS, "averaging", {"test_extra_done": 3, "test_extra_stub": 2})
    pytester.makepyfile(test_extras="""
        import pytest
        pytestmark = pytest.mark.averaging

        def test_extra_done(impl):
            assert impl.get("attention", "finished")() == 42

        def test_extra_stub(impl):
            impl.get("attention", "stub")()
        """)
    result = run(pytester, f"--impl={student}", "--extras", "-k", "finished or stub or extra")
    result.stdout.fnmatch_lines([
        "*5. One head of self-attention * 4 / 5*",
        "*total 4 / 100 (of the 5 points these checks carry)",
        "*extras (the lecture's other steps and its suggested exercises; apart from the 100):",
        "*10. The mathematical trick: averaging the past * 3 / 5*",
        f"*extras 3 / {EXTRA_POINTS} (of the 5 points these checks carry)",
        # The core comes first: the next exercise is the unfinished core one.
        "next: Exercise 5, One head of self-attention*",
    ])


def test_plain_pytest_grades_the_core_and_is_green_when_it_is_done(pytester, student, monkeypatch):
    from grader.rubric import POINTS

    monkeypatch.setitem(POINTS, "head", {"test_finished": 4})
    monkeypatch.setitem(POINTS, "averaging", {"test_extra_stub": 2})
    pytester.makepyfile(test_extras="""
        import pytest
        pytestmark = pytest.mark.averaging

        def test_extra_stub(impl):
            impl.get("attention", "stub")()
        """)
    result = run(pytester, f"--impl={student}", "-k", "finished or extra")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1, deselected=6)  # 5 by -k, the extra as not asked for
    result.stdout.fnmatch_lines([
        "*total 4 / 100 (of the 4 points these checks carry)",
        f"*extras ({EXTRA_POINTS} points, {EXTRAS_SPAN}) not graded: add --extras, or one with -m, e.g. pytest -m averaging",
    ])
    # Asked for: by the flag, by its marker, by its file. Each grades the unfinished extra, and fails.
    for asked in (["--extras"], ["-m", "averaging"], ["test_extras.py"]):
        result = run(pytester, f"--impl={student}", "-k", "finished or extra", *asked)
        assert result.ret == pytest.ExitCode.TESTS_FAILED, asked
        result.stdout.fnmatch_lines(["*10. The mathematical trick: averaging the past * 0 / 2*"])
        assert "not graded: add --extras" not in result.stdout.str()


def test_the_table_is_the_last_thing_printed(pytester, student, monkeypatch):
    from grader.rubric import POINTS

    monkeypatch.setitem(POINTS, "head", {"test_finished": 4, "test_wrong_answer": 1})
    result = run(pytester, f"--impl={student}", "-k", "finished or wrong_answer", "-ra")
    out = result.stdout.str()
    assert out.index("short test summary info") < out.rindex("gptkit: ") < out.index("total 4 / 100")
    assert result.stdout.lines[-1].startswith("=") and "1 failed, 1 passed" in result.stdout.lines[-1]
    assert result.stdout.lines[-2].startswith("next: Exercise 5")


def test_a_named_mistake_leads_the_table_and_the_failures(pytester, student, monkeypatch):
    from grader.rubric import POINTS

    monkeypatch.setitem(POINTS, "head", {"test_a_consequence": 1, "test_a_diagnosis": 1, "test_the_same_diagnosis": 1})
    pytester.makepyfile(test_mistakes="""
        import pytest
        from grader.oracles.expect import Mistake, fail

        pytestmark = pytest.mark.head

        def test_a_consequence(impl):
            fail(what="the future leaks", expected="no change", got="a change", where="Head.forward",
                 hint="mask the future")

        def test_a_diagnosis(impl):
            fail(what="Head(x)", expected="the same values", got="other values", where="Head.forward",
                 hint=Mistake("softmax over dim 1"))

        def test_the_same_diagnosis(impl):
            fail(what="Head(x) again", expected="the same values", got="other values", where="Head.forward",
                 hint=Mistake("softmax over dim 1"))
        """)
    result = run(pytester, f"--impl={student}", "test_mistakes.py")
    result.stdout.fnmatch_lines(["*5. One head of self-attention * 0 / 3*",
                                 "*test_a_diagnosis: Head(x)", "*mistake:  softmax over dim 1"])
    out = result.stdout.str()
    # In the failures too, the diagnosis comes first though it ran second.
    assert out.index("_ test_a_diagnosis _") < out.index("_ test_a_consequence _")
    # and the check that only saw an effect says so, briefly.
    assert "(this may follow from the mistake named in test_a_diagnosis)" in out.split("_ test_a_consequence _")[1]
    assert "(this may follow" not in out.split("_ test_a_consequence _")[0]
    # The same mistake named again takes one line.
    section = out.split("_ test_the_same_diagnosis _")[1].splitlines()[1:]
    again = [line for line in section[:next(i for i, l in enumerate(section) if l.startswith(("_", "=")))]]
    assert again == ["Head(x) again", "  the same mistake as test_a_diagnosis, above"], again


def test_every_page_the_kit_points_at_is_in_the_kit():
    # Messages and docstrings name pages a student opens (the contract, the README): each must be here.
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    sources = [*root.glob("*.md"), *(p for folder in ("grader", "exercises", "solutions") for p in (root / folder).rglob("*.py"))]
    named = {name for path in sources for name in re.findall(r"\b([A-Z][A-Za-z_]*\.md)\b", path.read_text())}
    assert "CONTRACT.md" in named
    assert {name for name in named if not (root / name).is_file()} == set()


def test_missing_data_is_explained_once(pytester, student, monkeypatch, tmp_path):
    from grader.rubric import POINTS

    monkeypatch.setenv("GPTKIT_DATA", str(tmp_path / "no-such-input.txt"))
    monkeypatch.setitem(POINTS, "tokenizer", {"test_a": 1, "test_b": 1, "test_c": 1})
    pytester.makepyfile(test_needs_text="""
        import pytest
        pytestmark = pytest.mark.tokenizer

        def test_a(shakespeare): pass
        def test_b(shakespeare): pass
        def test_c(shakespeare): pass
        """)
    result = run(pytester, f"--impl={student}", "test_needs_text.py")
    out = result.stdout.str()
    # The full message, with the fix, in one section; the other checks are counted, and wait in the table.
    assert out.count(" ERROR at setup of ") == 1 and "no-such-input.txt (set by GPTKIT_DATA)" in out, out
    result.stdout.re_match_lines([r"=+ 1 error, 2 without data in .*"])
    result.stdout.fnmatch_lines(["next: get Tiny Shakespeare (the first check that needed it says how), "
                                 "then run pytest again"])


# torch's own errors (torch 2.13's words), raised by a line as a student writes it, and the hint for each.
RAISING_LINES = {
    "multinomial_on_logits": ("idx_next = torch.multinomial(logits, num_samples=1)",
                              "torch.multinomial takes probabilities, not logits"),
    "cat_without_dim": ("idx = torch.cat((idx, idx_next))", "torch.cat joins along dim 0 unless a dim is given"),
    "transposed_3d": ("wei = q @ k.T * k.shape[-1] ** -0.5", "k.transpose(-2, -1)"),
    "mask_not_sliced": ("wei = wei.masked_fill(self.tril == 0, float('-inf'))", "self.tril[:T, :T]"),
    "positions_of_the_whole_block": ("x = wei + self.pos_emb", "torch.arange(T, device=idx.device)"),
    "view_after_transpose": ("out = q.transpose(1, 2).view(B, T * hs)", ".contiguous().view(B, T, C)"),
}


@pytest.mark.filterwarnings("ignore:The use of `x.T`")
@pytest.mark.parametrize("name", RAISING_LINES)
def test_torch_errors_are_translated(name):
    from types import SimpleNamespace

    from grader.student.explain import hint_for

    statement, hint = RAISING_LINES[name]
    B, T, hs, V, block_size = 4, 5, 16, 7, 8
    names = dict(torch=torch, logits=torch.randn(B, V), idx=torch.zeros(B, T, dtype=torch.long),
                 idx_next=torch.zeros(B, 1, dtype=torch.long), q=torch.randn(B, T, hs), k=torch.randn(B, T, hs),
                 wei=torch.randn(B, T, T), B=B, T=T, hs=hs,
                 self=SimpleNamespace(tril=torch.ones(block_size, block_size).tril(), pos_emb=torch.randn(block_size, T)))
    with pytest.raises(RuntimeError) as raised:
        exec(statement, names)
    assert hint in (hint_for(raised.value, f"{statement}  # (B, T)") or ""), (name, str(raised.value))
    # torch's words alone name the call for multinomial only: the others need the statement's.
    assert (hint_for(raised.value) or "").startswith("torch.multinomial") == (name == "multinomial_on_logits")


def test_a_translation_reads_the_statement_teacher_mode_sends(monkeypatch):
    # In teacher mode the judge rebuilds the error from the submission's words and its frame (the
    # statement among them): the same hint as in student mode.
    from grader.sandbox.remote import _exception
    from grader.student.explain import explain
    from grader.student.voice import Terminal

    statement = "idx_next = torch.multinomial(logits, num_samples=1)  # (B, 1)"
    exc = _exception({"builtin": "RuntimeError", "type": "RuntimeError", "args": ("invalid multinomial "
                      "distribution (sum of probabilities <= 0)",), "message": "invalid multinomial distribution "
                      "(sum of probabilities <= 0)", "frame": {"path": "/sub/generate.py", "lineno": 15,
                                                              "name": "generate", "line": statement}}, "call")
    with pytest.raises(RuntimeError) as raised:
        raise exc
    text = str(explain(raised, None, None, Terminal()))
    assert statement in text and "hint:     torch.multinomial takes probabilities, not logits" in text, text


def test_the_same_error_is_shown_once(pytester, monkeypatch):
    """A line that raises in many checks: the first shows it in full, each after it takes one line; in the
    table, an exercise whose first failure is the error another exercise showed says so."""
    from grader.rubric import POINTS

    folder = pytester.mkdir("torchy")
    (folder / "attention.py").write_text(
        "import torch\n\n"
        "def attend(B):\n"
        "    return torch.randn(B, 8, 16) @ torch.randn(B, 8, 16).T\n")
    monkeypatch.setitem(POINTS, "head", {"test_a": 1, "test_b": 1, "test_c": 1})
    monkeypatch.setitem(POINTS, "multihead", {"test_d": 1})
    pytester.makepyfile(test_same="""
        import pytest

        @pytest.mark.head
        @pytest.mark.parametrize("B", [2, 3, 4])
        def test_a(impl, B):
            impl.get("attention", "attend")(B)

        @pytest.mark.head
        def test_b(impl):
            impl.get("attention", "attend")(5)

        @pytest.mark.head
        def test_c(impl):
            impl.get("attention", "attend")(16)  # B == hs: torch's words differ, its hint does not

        @pytest.mark.multihead
        def test_d(impl):
            impl.get("attention", "attend")(6)
        """)
    result = run(pytester, f"--impl={folder}", "-W", "ignore:The use of `x.T`")
    result.assert_outcomes(failed=6)
    out = result.stdout.str()
    assert out.count("hint:     k.T reverses all the dims of k") == 2, out  # the first failure, and the table
    assert out.count("the same error, at the same line, as test_a[2] above") == 4, out  # test_a[3], [4], b, c
    result.stdout.fnmatch_lines([
        "_*test_a?3?*_",
        "your code raised RuntimeError: The size of tensor a (3) must match the size of tensor b (16) *",
        "  the same error, at the same line, as test_a?2? above",
        "_*test_d*_",
        "*  the same error, at the same line, as test_a?2? (Exercise 5) above",
        "*5. One head of self-attention*",
        "*test_a?2?: your code raised RuntimeError*",
        "*at torchy/attention.py:4, in attend",
        "*hint:     k.T reverses all the dims of k*",
        "*6. Multi-head attention*",
        "*test_d: your code raised RuntimeError*",
        "*the same error, at the same line, as test_a?2? (Exercise 5) above",
    ])


def test_a_warning_of_torch_that_names_the_mistake_is_shown_with_the_failure(pytester, monkeypatch):
    # torch warns of x.T on 3 dims once per process, where the line ran; the error comes later, from
    # a line with no .T: the warning, hidden in pytest's warnings summary, becomes the failure's hint.
    from grader.rubric import POINTS

    folder = pytester.mkdir("torchy")
    (folder / "attention.py").write_text(
        "import torch\n\n"
        "def attend(B):\n"
        "    k = torch.randn(B, 8, 16)\n"
        "    kT = k.T\n"
        "    return torch.randn(B, 8, 16) @ kT\n")
    monkeypatch.setitem(POINTS, "head", {"test_a": 1})
    pytester.makepyfile(test_warned="""
        import pytest

        @pytest.mark.head
        def test_a(impl):
            impl.get("attention", "attend")(4)
        """)
    # torch gives it once per process, and may have given it here already: always, for this run.
    was = torch.is_warn_always_enabled()
    torch.set_warn_always(True)
    try:
        result = run(pytester, f"--impl={folder}")
    finally:
        torch.set_warn_always(was)
    result.stdout.fnmatch_lines([
        "*your code raised RuntimeError: The size of tensor a (4) must match the size of tensor b (16) *",
        "*    return torch.randn(B, 8, 16) @ kT",
        "  hint:     torch warned at torchy/attention.py:5: k.T reverses all the dims of k*",
        "*test_a: your code raised RuntimeError*",
        "*at torchy/attention.py:6, in attend",
        "*hint:     torch warned at torchy/attention.py:5: k.T reverses all the dims of k*",
    ])
