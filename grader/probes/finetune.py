"""Exercise 13's probes (EX3, pretrain then finetune): parameters by value, the grader's pretraining loop, one training step."""

import torch

from grader.probes.probe import runs_with_the_submission, set_parameters


@runs_with_the_submission
def parameter_values(module):
    """``module``'s parameters now, by name: detached copies, which later training leaves as they are
    (in teacher mode, reading a parameter the judge set gives the judge's copy, not the trained one)."""
    return {name: p.detach().clone() for name, p in module.named_parameters()}


@runs_with_the_submission
def pretrain(model, data, iters, learning_rate, batch_size, block_size, seed):
    """The grader's pretraining loop for EX3: AdamW on seeded batches of ``data``, ``model`` in place."""
    from grader.probes.training import sample_batch

    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(iters):
        x, y = sample_batch(data, batch_size, block_size, generator)
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def random_state(device):
    """The CPU's random state and, on CUDA, the GPU's: all that a training step draws from."""
    return torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None


@runs_with_the_submission
def training_step(model, values, get_batch, data, batch_size, block_size, train=True, state=None):
    """One step of a training loop but for the optimizer's: ``model`` at the weights ``values`` (name ->
    tensor), ``model.train(train)``, then from the random state ``state`` (None: the one there is)
    ``get_batch(data, batch_size, block_size, device)``, the loss and backward. Returns the loss (a
    float), each parameter's gradient by name (None where none arrived) and the random state after, from
    which the next step draws on as one loop would."""
    device = next(model.parameters()).device
    if state is not None:
        torch.set_rng_state(state[0])
        if state[1] is not None:
            torch.cuda.set_rng_state(state[1], device)
    set_parameters(model, values)
    model.train(train)
    for p in model.parameters():
        p.grad = None
    x, y = get_batch(data, batch_size, block_size, device)
    _, loss = model(x, y)
    loss.backward()
    return loss.item(), {name: p.grad for name, p in model.named_parameters()}, random_state(device)
