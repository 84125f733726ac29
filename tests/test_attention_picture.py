"""See your attention: the picture of a head's attention weights that the failures of Head and
MultiHeadAttention show (grader/oracles/attention_picture.py), measured on the reference and on broken
copies of it, in student mode, in judge mode and in a real Jupyter kernel."""

import importlib.util
import json
import math
import sys

import pytest
import torch

from grader.oracles import attention_picture as picture
from kit import SOLUTIONS, make_variant, run_checks_many
from variants.attention import HEAD_MASK, HEAD_SCORES, HEAD_SOFTMAX, MHA_MASK, MHA_SCORES

pytestmark = pytest.mark.timeout(300)

n_embd, head_size, n_head, block_size = 32, 8, 4, 16
NO_MASK = {"attention": [(HEAD_MASK, "pass"), (MHA_MASK, "pass")]}
MASK_AFTER_SOFTMAX = {"attention": [(HEAD_MASK, "pass"), (HEAD_SOFTMAX, HEAD_SOFTMAX + "\n        wei = "
                                                          "wei.masked_fill(self.tril[:T, :T] == 0, 0.0)")]}
NO_SOFTMAX = {"attention": [(HEAD_SOFTMAX, "pass")]}
SCALED_BY_N_EMBD = {"attention": [(HEAD_SCORES, HEAD_SCORES.replace("k.shape[-1] ** -0.5", "C ** -0.5")),
                                  (MHA_SCORES, MHA_SCORES.replace("hs**-0.5", "C**-0.5"))]}
# Layout mistakes of MultiHeadAttention: not attention mistakes, so no picture.
MHA_LAYOUTS = {
    "interleaved": [(f"{n} = {n}.view(B, T, self.n_head, hs).transpose(1, 2)",
                     f"{n} = {n}.view(B, T, hs, self.n_head).permute(0, 3, 1, 2)") for n in "qkv"],
    "split-without-transpose": [(f"{n} = {n}.view(B, T, self.n_head, hs).transpose(1, 2)",
                                 f"{n} = {n}.reshape(B, self.n_head, T, hs)") for n in "qkv"],
    "merged-without-transpose": [("out = out.transpose(1, 2).contiguous().view(B, T, C)",
                                  "out = out.contiguous().view(B, T, C)")],
    "no-c_proj": [("out = self.resid_dropout(self.c_proj(out))", "out = self.resid_dropout(out)")],
}


def attention_module(folder):
    """The attention.py of ``folder``, imported under a name of its own."""
    name = f"picture_{folder.parent.name}_{folder.name}".replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, folder / "attention.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def head_weights(folder):
    torch.manual_seed(0)
    return picture.measure_head(attention_module(folder).Head(n_embd, head_size, block_size), n_embd, head_size,
                                "cpu")


def mha_weights(folder):
    torch.manual_seed(0)
    mha = attention_module(folder).MultiHeadAttention(n_embd, n_head, block_size)
    return picture.measure_mha(mha, n_embd, n_head, "cpu")


def grids(text):
    """{t: (your row, the contract's row)} as drawn: two characters per weight."""
    rows = [line.split("|") for line in text.splitlines() if line.strip().startswith("t=")]
    return {int(parts[0].strip().removeprefix("t=")): (parts[1], parts[3]) for parts in rows}


def as_written(shown):
    """A picture as the grading process writes it for the notebook (--pictures-json), read back."""
    return json.loads(json.dumps({"text": str(shown), **shown.data}))


def above_the_diagonal(row_text, t):
    return row_text[2 * (t + 1):]


@pytest.mark.parametrize("measure", [head_weights, mha_weights], ids=["Head", "MultiHeadAttention"])
def test_the_reference_weights_are_causal_sum_to_one_and_are_the_contracts(measure):
    yours, contract = measure(SOLUTIONS)
    assert torch.equal(yours.triu(1), torch.zeros(8, 8))  # the future gets exactly 0
    assert torch.allclose(yours.sum(-1), torch.ones(8), atol=1e-6)
    assert torch.allclose(yours, contract, atol=1e-6)
    # Rows neither uniform nor one-hot, so a wrong temperature shows (WEIGHT_STD's comment).
    largest = yours[1:].max(-1).values  # measured: 0.46 (Head) and 0.45 (MultiHeadAttention) on average
    assert 0.3 < largest.mean() < 0.7 and (largest > 1 / torch.arange(2, 9) + 0.03).all()
    text = picture.draw(yours, contract)
    assert all(above_the_diagonal(mine, t).strip() == "" for t, (mine, _) in grids(text).items())


def test_no_picture_for_a_correct_implementation_or_a_layout_mistake(tmp_path):
    torch.manual_seed(0)
    reference = attention_module(SOLUTIONS)
    assert picture.head_picture(reference.Head(n_embd, head_size, block_size), n_embd, head_size, "cpu") is None
    assert picture.mha_picture(reference.MultiHeadAttention(n_embd, n_head, block_size), n_embd, n_head,
                               "cpu") is None
    for name, edits in MHA_LAYOUTS.items():
        mha = attention_module(make_variant(tmp_path, name, {"attention": edits})).MultiHeadAttention(
            n_embd, n_head, block_size)
        assert picture.mha_picture(mha, n_embd, n_head, "cpu") is None, name
    # key, query and value not laid out as the contract says: nothing to measure.
    head = reference.Head(n_embd, head_size, block_size)
    head.key = torch.nn.Linear(n_embd, head_size, bias=True)
    assert picture.head_picture(head, n_embd, head_size, "cpu") is None


@pytest.mark.parametrize("measure", [head_weights, mha_weights], ids=["Head", "MultiHeadAttention"])
def test_no_mask_shows_the_future_leaking(tmp_path, measure):
    yours, contract = measure(make_variant(tmp_path, "no-mask", NO_MASK))
    assert all(yours[t, t + 1:].min() > 0 for t in range(7))  # every row but the last takes from the future
    assert torch.allclose(yours.sum(-1), torch.ones(8), atol=1e-6)
    for t, (mine, theirs) in grids(picture.draw(yours, contract)).items():
        assert above_the_diagonal(theirs, t).strip() == ""
        assert t == 7 or above_the_diagonal(mine, t).strip() != ""


def test_mask_after_softmax_and_no_softmax_show_rows_that_do_not_sum_to_one(tmp_path):
    yours, _ = head_weights(make_variant(tmp_path, "after", MASK_AFTER_SOFTMAX))
    assert torch.equal(yours.triu(1), torch.zeros(8, 8))
    assert (yours.sum(-1)[:-1] < 0.99).all()  # the last row has no future to lose
    yours, contract = head_weights(make_variant(tmp_path, "no-softmax", NO_SOFTMAX))
    sums = yours.sum(-1)
    assert not torch.isfinite(sums[:-1]).any()  # -inf scores times v: NaN
    assert yours[-1].min() < 0 and yours[-1].max() > 1  # raw scores where nothing is masked
    text = picture.draw(yours, contract)
    mine = grids(text)
    assert set(mine[0][0]) == {picture.NOT_FINITE}
    assert picture.BELOW in mine[7][0] and picture.ABOVE in mine[7][0] and "NaN" in text


@pytest.mark.parametrize("measure", [head_weights, mha_weights], ids=["Head", "MultiHeadAttention"])
def test_scaled_by_n_embd_shows_another_temperature(tmp_path, measure):
    yours, contract = measure(make_variant(tmp_path, "n_embd", SCALED_BY_N_EMBD))
    # Causal, rows of 1, but the scores times (n_embd / head_size)**-0.5 = 1/2: the contract's weights
    # at half the inverse temperature, so each row is flatter.
    assert torch.equal(yours.triu(1), torch.zeros(8, 8))
    assert torch.allclose(yours.sum(-1), torch.ones(8), atol=1e-6)
    assert torch.allclose(yours, torch.softmax(contract.log() * 0.5, dim=-1), atol=1e-5)
    assert (yours.max(-1).values[1:] < contract.max(-1).values[1:]).all()
    mine = grids(picture.draw(yours, contract))
    assert any(a != b for a, b in mine.values())


def test_the_picture_is_ascii_within_80_columns_shown_in_full():
    yours = torch.full((8, 8), float("nan"))
    yours[0] = torch.tensor([-12345.0, 2.0, 0.5, 1e-3, 0.0, -1e-9, float("inf"), float("-inf")])
    text = picture.draw(yours, torch.eye(8))
    assert text.isascii()
    # pytest prints the message as it is; the table's "in full" indents it by 2.
    assert max(len(line) for line in text.splitlines()) + 2 <= 80
    row = grids(text)[0][0]
    assert row == "<<>>++..    ????"  # a tiny leak shows ('.'), float noise (1e-9) does not
    # The numbers it was drawn from come with it, and survive JSON (NaN and infinities too).
    written = as_written(text)
    assert written["yours"]["weights"][0][:2] == [-12345.0, 2.0] and math.isnan(written["yours"]["row_sums"][1])
    assert picture.draw(torch.tensor(written["yours"]["weights"]), torch.eye(8)) == text
    # The notebook finds it by its text, only where it stands on lines of its own, and draws it once.
    shown = "a message\n" + text + "\nnext"
    assert picture._places_in(shown, [written, written]) == [(10, 10 + len(text), written)]
    assert picture._places_in("  " + text, [written]) == []


def test_student_mode_shows_the_picture_for_the_mistake_and_never_for_the_reference(tmp_path):
    checks = ["grader/checks/test_head.py", "grader/checks/test_multihead.py"]
    jobs = [{"impl": SOLUTIONS, "paths": checks},
            {"impl": make_variant(tmp_path, "no-mask", NO_MASK), "paths": checks}]
    reference, broken = run_checks_many(jobs, tmp_path)
    assert reference.returncode == 0 and picture.TITLE not in reference.output
    # Once per exercise: the later checks that name the same mistake take one line.
    assert broken.output.count(picture.TITLE) == 2, broken.output
    shown = [message for outcome, message in broken.cases.values() if picture.TITLE in message]
    assert all("no causal mask" in message for message in shown)


def test_judge_mode_draws_the_picture_from_the_outputs_it_got(tmp_path):
    from test_judge_values import judged

    folder = make_variant(tmp_path, "no-mask", NO_MASK)
    checks = judged(folder, checks="grader/checks/test_head.py::test_future_does_not_change_the_past")
    expected = picture.draw(*head_weights(folder))
    assert all(outcome == "failed" and expected in message for outcome, message, _ in checks.values()), checks


def test_a_jupyter_kernel_shows_the_picture_as_an_image(tmp_path):
    nbclient = pytest.importorskip("nbclient", reason="needs the test extra: pip install -e .[test]")
    pytest.importorskip("ipykernel", reason="needs the test extra: pip install -e .[test]")
    import nbformat

    yours, contract = torch.eye(8), torch.eye(8).tril() / torch.arange(1, 9)[:, None]
    drawn = picture.draw(yours, contract)
    text = "the check's message\n" + drawn + "\nnext: the line after"
    source = f"import json, sys\nsys.path.insert(0, {str(SOLUTIONS.parent)!r})\n" \
             f"from grader.oracles.attention_picture import print_with_pictures\n" \
             f"print_with_pictures({text!r}, [json.loads({json.dumps(as_written(drawn))!r})])"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = notebook.cells[0].outputs
    kinds = [out.output_type for out in outputs]
    assert kinds == ["stream", "display_data", "stream"], outputs
    assert outputs[0].text.strip() == "the check's message" and outputs[2].text.strip() == "next: the line after"
    image = outputs[1].data["text/html"]
    assert image.count("<table") == 2 and image.count("rgb(0, 0, 0)") == 8 + 1  # yours' diagonal, contract's t=0
    assert outputs[1].data["text/plain"] == picture.draw(yours, contract) + "\n"  # ends its line in a text-only view


def test_outside_a_notebook_the_picture_is_printed_as_text(capsys):
    drawn = picture.draw(torch.eye(8), torch.eye(8))
    text = "a message\n" + drawn
    picture.print_with_pictures(text, [as_written(drawn)])
    assert capsys.readouterr().out == text + "\n"
    assert "IPython" not in sys.modules or sys.modules["IPython"].get_ipython() is None
