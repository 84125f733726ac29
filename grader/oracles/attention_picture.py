"""See your attention: the attention weights of the student's own head for one small input, drawn
beside the weights the contract gives for the same input, for the failures of the attention checks.

The weights are measured by behaviour, without reading the module's intermediate ``wei``: the value
weights are set so that v is the first T features of x, and x[:, t, :T] is one-hot(t), so row t of the
output is row t of the weights (out[t] = sum_s wei[t, s] * e_s). Key and query read only the other
features, drawn at random with a fixed seed, so a second input with random first features must come
out as the same weights times its values: when it does not, the output is not one matrix of weights
times v (a layout mistake, not an attention one) and no picture is drawn. Nor is one drawn when the
weights match the contract's: the mistake lies elsewhere and the picture would show none.

The picture is plain ASCII within 80 columns, a ``Picture``: its text, and the numbers it was drawn from
as data. The notebook edition shows it as an HTML image made from those numbers (``print_with_pictures``).
Nothing here runs unless a check has already failed.
"""

import html
import math

import torch

from grader.oracles.attention_oracle import attention
from grader.oracles.expect import PLAIN_TENSORS, parameter_shapes, same_values
from grader.probes.probe import set_parameters

T = 8  # positions in the probe: 8 x 8 weights fit twice in 80 columns
# Key and query weights drawn with std 0.2 from the 24 random features give q and k of variance
# 24 * 0.2**2 ~ 1 per component, so scores q.k * head_size**-0.5 of std about 1: rows neither uniform
# nor one-hot, and a scale off by 2x (n_embd) or 2.8x (none) changes the shades at a glance.
WEIGHT_STD = 0.2
SEED = 0
# Measured with SEED 0-19: the reference and the kit's valid alternatives measure within 1.8e-7 of the
# contract's weights (and pass the second input's test as closely), every attention mistake of the kit's
# variants is off by at least 0.11 (scaled by n_embd), so 1e-4 leaves margins of 500x and 1000x; the
# layout mistakes (heads interleaved, split or merged without transpose) failed the second input's test
# at every seed.
ATOL = 1e-4

RAMP = " .:-=+*#%@"  # 0 (exactly), then up to 1/9, 2/9, ..., 1
BELOW, ABOVE, NOT_FINITE = "<", ">", "?"
TITLE = "attention weights for one input (one head, T=8): yours and the contract's"
LEGEND = "weight: blank 0, . : - = + * # % @ up to 1; < below 0, > above 1, ? NaN"


def probe_inputs(n_embd, device):
    """Two inputs (1, T, n_embd) with the same last features (what key and query read): the first has
    one-hot(t) at position t in its first T features, the second random values there."""
    generator = torch.Generator().manual_seed(SEED)
    rest = torch.randn(1, T, n_embd - T, generator=generator)
    one_hot = torch.cat([torch.eye(T)[None], rest], dim=-1)
    random = torch.cat([torch.randn(1, T, T, generator=generator), rest], dim=-1)
    return one_hot.to(device), random.to(device)


def key_query_weights(rows, n_embd):
    """(rows, n_embd) random weights that read only the features after the first T."""
    generator = torch.Generator().manual_seed(SEED + 1)
    weights = torch.randn(rows, n_embd, generator=generator) * WEIGHT_STD
    weights[:, :T] = 0.0
    return weights


def contract_weights(Wq, Wk, x, head_size):
    """The contract's (T, T) weights: softmax(mask(q @ k^T * head_size**-0.5)), from attention_oracle."""
    q, k = x[0].cpu() @ Wq.T, x[0].cpu() @ Wk.T  # (T, hs)
    return attention(q, k, torch.eye(T), head_size**-0.5)  # weights @ I: the weights themselves


def read_weights(outputs, values, width):
    """The (T, T) weights from the outputs of the two probe inputs, or None when the second output is
    not those weights times its values (then the module is not attention with that layout)."""
    first, second = outputs
    if any(type(o) not in PLAIN_TENSORS or tuple(o.shape) != (1, T, width) for o in outputs):
        return None
    first, second = first.detach().float().cpu()[0], second.detach().float().cpu()[0]
    weights, others = first[:, :T], torch.cat([first[:, T:], second[:, T:]])
    # The other features (the other heads of a MultiHeadAttention, whose values are 0) must stay 0, or
    # NaN where their weights are: a layout that mixes heads or positions moves head 0's values there.
    if not (others[torch.isfinite(others)].abs() <= ATOL).all():
        return None
    return weights if same_values(second[:, :T], weights @ values, ATOL) else None


@torch.no_grad()
def measure_head(head, n_embd, head_size, device):
    """(yours, the contract's) weights of a Head with key, query and value nn.Linear(n_embd, head_size,
    bias=False), or None when they cannot be measured. Sets the head's weights."""
    wanted = {name: (head_size, n_embd) for name in ("key.weight", "query.weight", "value.weight")}
    if head_size != T or parameter_shapes(head) != wanted:
        return None
    Wq, Wk = key_query_weights(2 * head_size, n_embd).split(head_size)
    Wv = torch.eye(head_size, n_embd)
    set_parameters(head, {name: w.to(device) for name, w in
                          (("query.weight", Wq), ("key.weight", Wk), ("value.weight", Wv))})
    x, x2 = probe_inputs(n_embd, device)
    head.eval()
    yours = read_weights((head(x), head(x2)), x2[0, :, :T].cpu(), head_size)
    return None if yours is None else (yours, contract_weights(Wq, Wk, x, head_size))


@torch.no_grad()
def measure_mha(mha, n_embd, n_head, device):
    """(yours, the contract's) weights of head 0 of a MultiHeadAttention with c_attn nn.Linear(n_embd,
    3*n_embd, bias=False) ([q | k | v]) and c_proj nn.Linear(n_embd, n_embd), or None. c_proj is set
    to the identity and the other heads' values to 0, so features 0..hs-1 of the output are head 0's."""
    head_size = n_embd // n_head
    wanted = {"c_attn.weight": (3 * n_embd, n_embd), "c_proj.weight": (n_embd, n_embd), "c_proj.bias": (n_embd,)}
    if head_size != T or parameter_shapes(mha) != wanted:
        return None
    Wqk = key_query_weights(2 * n_embd, n_embd)
    Wv = torch.zeros(n_embd, n_embd)
    Wv[:head_size] = torch.eye(head_size, n_embd)
    set_parameters(mha, {"c_attn.weight": torch.cat([Wqk, Wv]).to(device),
                         "c_proj.weight": torch.eye(n_embd).to(device), "c_proj.bias": torch.zeros(n_embd).to(device)})
    x, x2 = probe_inputs(n_embd, device)
    mha.eval()
    yours = read_weights((mha(x), mha(x2)), x2[0, :, :T].cpu(), n_embd)
    Wq, Wk = Wqk[:head_size], Wqk[n_embd:n_embd + head_size]
    return None if yours is None else (yours, contract_weights(Wq, Wk, x, head_size))


def head_picture(head, n_embd, head_size, device):
    """The picture for a failed check of Head, or None (not measurable, or the weights are right)."""
    return _picture_of(lambda: measure_head(head, n_embd, head_size, device))


def mha_picture(mha, n_embd, n_head, device):
    """The picture of head 0 for a failed check of MultiHeadAttention, or None."""
    return _picture_of(lambda: measure_mha(mha, n_embd, n_head, device))


def _picture_of(measure):
    try:
        measured = measure()
    except Exception:  # the module fails in its own way: the check's message says how, with no picture
        return None
    if measured is None or same_values(*measured, ATOL):
        return None
    return draw(*measured)


class Picture(str):
    """The picture's text, as a check's message shows it, with ``data``: the numbers it was drawn from,
    ready for JSON ({"yours": grid, "contract": grid}, a grid {"weights": T rows of T, "row_sums": T}),
    from which the notebook edition draws the same picture as HTML."""

    def __new__(cls, text, data=None):  # None: a copy made from the text alone (pickle's), its data set after
        picture = super().__new__(cls, text)
        picture.data = data
        return picture


def draw(yours, contract):
    """The two (T, T) weights side by side as ASCII lines, each row's sum beside it (<= 80 columns)."""
    data = {"yours": _grid(yours), "contract": _grid(contract)}
    gap, indent = " " * 5, " " * 4  # indented under the title, as a message's lines are under its first
    lines = ["  " + TITLE, indent + "yours".center(29) + gap + "the contract's".center(29),
             indent + _header() + gap + _header()]
    for t in range(T):
        lines.append(indent + _row(data["yours"], t) + gap + _row(data["contract"], t))
    lines.append(indent + LEGEND)
    return Picture("\n".join(line.rstrip() for line in lines), data)


def _grid(weights):
    """A (T, T) tensor of weights as plain numbers, with each row's sum as torch adds it (a sum of the
    rounded numbers again could differ in its last digit, and so in the sum shown)."""
    return {"weights": [[float(w) for w in row] for row in weights], "row_sums": [float(row.sum()) for row in weights]}


def _header():
    return "   s " + " ".join(str(s) for s in range(T)) + "      sum"


def _row(grid, t):
    shades = "".join(2 * _shade(w) for w in grid["weights"][t])
    return f"t={t} |{shades}|" + _sum_text(grid["row_sums"][t])


def _shade(w, eps=1e-6):
    """One character for a weight: blank for 0, the ramp up to 1, a mark for what no weight can be."""
    if not math.isfinite(w):
        return NOT_FINITE
    if w < -eps:
        return BELOW
    if w > 1 + eps:
        return ABOVE
    return RAMP[0] if w <= eps else RAMP[min(9, max(1, math.ceil(w * 9 - eps)))]


def _sum_text(total):
    if not math.isfinite(total):
        text = "NaN" if total != total else f"{total}"
    else:
        text = f"{total:.2f}" if abs(total) < 1000 else f"{total:.1e}"
    return f"{text:>7}"


# The notebook edition: grade() prints the text of `python -m grader check`, and that grading process
# writes each picture it showed, as it showed it, with the picture's data (the plugin's --pictures-json):
# there each such text is drawn as an HTML image instead (no plotting library needed).

def print_with_pictures(text, pictures):
    """print(text), with each picture of ``pictures`` ({"text": as shown in ``text``, "yours": grid,
    "contract": grid}, see Picture) shown as an HTML image where IPython can display one."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None
    places = _places_in(text, pictures)
    if not places or get_ipython is None or get_ipython() is None:
        print(text)
        return
    start = 0
    for first, end, picture in places:
        print(text[start:first].removesuffix("\n"))
        display({"text/html": picture_html(picture), "text/plain": picture["text"] + "\n"}, raw=True)
        start = end + 1  # after the picture's line ends
    if start < len(text):
        print(text[start:])


def _places_in(text, pictures):
    """(start, end, picture) of each place in ``text`` where a picture's text stands on lines of its
    own, in order (a plain search for the text the grading process wrote)."""
    found = []
    for picture in pictures:
        shown, start = picture["text"], text.find(picture["text"])
        while shown and start >= 0:
            end = start + len(shown)
            if text[start - 1:start] in ("", "\n") and text[end:end + 1] in ("", "\n"):
                found.append((start, end, picture))
            start = text.find(shown, end)
    places = []
    for place in sorted(found, key=lambda place: place[0]):
        if not places or place[0] > places[-1][1]:  # one picture's text twice in the file: drawn once
            places.append(place)
    return places


def picture_html(picture):
    """The picture ({"yours": grid, "contract": grid}) as two shaded HTML tables, yours and the contract's."""
    tables = [_table("yours", picture["yours"]), _table("the contract's", picture["contract"])]
    return (f'<div style="font-family: monospace"><div>{html.escape(TITLE)}</div>'
            f'<div style="display: flex; gap: 3em; margin: 0.5em 0">{"".join(tables)}</div>'
            "<div>weight: white 0 to black 1; &lt; below 0, &gt; above 1, ? NaN</div></div>")


def _table(caption, grid):
    cell = "width: 1.6em; height: 1.6em; text-align: center; border: 1px solid #bbb; padding: 0"
    head = "".join(f'<th style="padding: 0 0.2em">{s}</th>' for s in range(T))
    body = []
    for t, (weights, total) in enumerate(zip(grid["weights"], grid["row_sums"])):
        cells = "".join(f'<td style="{cell}; {_cell_style(c)}">{html.escape(c if c not in RAMP else "")}</td>'
                        for c in map(_shade, weights))
        total = html.escape(_sum_text(total).strip())
        body.append(f'<tr><th style="padding: 0 0.4em">t={t}</th>{cells}'
                    f'<td style="padding: 0 0.4em; text-align: right">{total}</td></tr>')
    return (f'<table style="border-collapse: collapse"><caption>{html.escape(caption)}</caption>'
            f'<tr><th>s</th>{head}<th>sum</th></tr>{"".join(body)}</table>')


def _cell_style(shade):
    """White for 0 to black for 1; a mark (< > ?) on a hatched grey, as no weight can be that."""
    if shade not in RAMP:
        return "background: repeating-linear-gradient(45deg, #ddd 0 3px, #fff 3px 6px); font-weight: bold"
    grey = round(255 * (1 - RAMP.index(shade) / (len(RAMP) - 1)))
    return f"background: rgb({grey}, {grey}, {grey})"
