"""The first broken variants, kept from the foundation's tests."""

from . import Variant

VARIANTS = [
    Variant("targets-not-shifted", "batching", {"batching": [
        ("y = torch.stack([data[i + 1 : i + block_size + 1] for i in ix])",
         "y = torch.stack([data[i : i + block_size] for i in ix])")]}, hint="targets not shifted"),
    Variant("context-not-cropped", "generate", {"generate": [
        ("idx_cond = idx if block_size is None else idx[:, -block_size:]", "idx_cond = idx")]},
            hint="context not cropped"),
    Variant("c_proj-without-bias", "multihead", {"attention": [
        ("self.c_proj = nn.Linear(n_embd, n_embd)", "self.c_proj = nn.Linear(n_embd, n_embd, bias=False)")]}),
    Variant("no-init", "gpt", {"gpt": [("self.apply(self._init_weights)", "pass")]}),
]
