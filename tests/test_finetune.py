"""Exercise 13 (EX3) meets the trainer: a checkpoint written by ``grader.trainer.train.train`` (what
``python -m grader train`` saves) loads with the reference ``load_pretrained`` and finetunes."""

import torch

from grader.oracles import corpus
from grader.impl import Implementation
from grader.trainer.train import train


def test_trainer_checkpoint_loads_and_finetunes(tmp_path):
    torch.set_num_threads(1)
    config = dict(batch_size=4, block_size=8, n_embd=16, n_head=2, n_layer=1, dropout=0.1, learning_rate=1e-3,
                  max_iters=3, eval_interval=3, eval_iters=1)
    result = train("solutions", config=config, device="cpu", text=corpus.finetuning_text(3_000),
                   out_dir=tmp_path, log=lambda line: None)
    solutions = Implementation("solutions")
    model = solutions.get("finetune", "load_pretrained")(result["checkpoint"], device="cpu")
    assert vars(model.config) == result["model_config"]
    idx = torch.randint(model.config.vocab_size, (2, 8), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model.eval()(idx)[0], result["model"].eval()(idx)[0])
    # the checkpoint's vocabulary rebuilds the tokenizer, so the finetuning text gets the same ids
    ckpt = torch.load(result["checkpoint"], weights_only=True)
    tokenizer = solutions.get("tokenizer", "CharTokenizer")(ckpt["vocab"])
    data = torch.tensor(tokenizer.encode(corpus.finetuning_text(1_000, seed=5)), dtype=torch.long)
    torch.manual_seed(0)
    losses = solutions.get("finetune", "finetune")(model, data, 3, learning_rate=1e-4, batch_size=4)
    assert len(losses) == 3 and all(isinstance(x, float) for x in losses)


def test_graders_checkpoints_have_the_trainers_keys(tmp_path):
    """The checks of Exercise 13 write checkpoints of their own: the same keys as the trainer's."""
    from grader.checks.test_finetune import SMALL, build_gpt, write_checkpoint

    torch.set_num_threads(1)
    config = dict(batch_size=4, block_size=8, n_embd=16, n_head=2, n_layer=1, dropout=0.0, learning_rate=1e-3,
                  max_iters=1, eval_interval=1, eval_iters=1)
    result = train("solutions", config=config, device="cpu", text=corpus.finetuning_text(3_000),
                   out_dir=tmp_path / "trainer", log=lambda line: None)
    trainer = torch.load(result["checkpoint"], weights_only=True)
    model = build_gpt(Implementation("solutions"), "cpu", **SMALL)
    ours = torch.load(write_checkpoint(model.state_dict(), SMALL, tmp_path / "ckpt.pt"), weights_only=True)
    assert ours.keys() == trainer.keys()
    assert ours["train_config"].keys() == trainer["train_config"].keys()
    assert ours["config"].keys() == trainer["config"].keys()
