"""The rubric: the exercises in lecture order, and the points of every graded check, in one place.

The plugin (markers, messages, scores), the student view and the reports all read it.
""" 

from dataclasses import dataclass


@dataclass(frozen=True)
class Exercise:
    number: int
    marker: str
    title: str
    module: str  # file in exercises/, without .py
    names: tuple  # the public names the student fills in
    chapter: str  # lecture timestamp and chapter title

    @property
    def max_points(self):
        return sum(POINTS[self.marker].values())


EXERCISES = (
    Exercise(1, "tokenizer", "Character tokenizer", "tokenizer", ("CharTokenizer",),
             "00:09:28 tokenization, train/val split"),
    Exercise(2, "batching", "Train/val split and batches", "batching", ("train_val_split", "get_batch"),
             "00:14:27 data loader: batches of chunks of data"),
    Exercise(3, "bigram", "Bigram language model", "bigram", ("BigramLanguageModel",),
             "00:22:11 simplest baseline: bigram language model, loss"),
    Exercise(4, "generate", "Autoregressive generation", "generate", ("generate",),
             "00:22:11 generation (and 01:19:11 for cropping the context)"),
    Exercise(5, "head", "One head of self-attention", "attention", ("Head",),
             "01:02:00 version 4: self-attention"),
    Exercise(6, "multihead", "Multi-head attention, fused", "attention", ("MultiHeadAttention",),
             "01:21:59 multi-headed self-attention"),
    Exercise(7, "feedforward", "Feed-forward layer", "block", ("FeedForward",),
             "01:24:25 feedforward layers of transformer block"),
    Exercise(8, "block", "Transformer block", "block", ("Block",),
             "01:26:48 residual connections, 01:32:51 layernorm"),
    Exercise(9, "gpt", "The GPT language model", "gpt", ("GPTLanguageModel",),
             "01:37:49 scaling up the model"),
)

# Exercise marker -> {check function: points}; 100 in all. A parametrized check's points are shared
# equally by its parameters. Checks not listed here (the GPU checks) score no points.
POINTS = {
    "tokenizer": {
        "test_vocabulary_has_65_symbols": 2,
        "test_encode_hii_there": 2,
        "test_decode_round_trip": 2,
        "test_unknown_character_is_a_clear_error": 2,
    },
    "batching": {
        "test_split_keeps_order": 3,
        "test_batch_shape_dtype_device": 3,
        "test_targets_are_inputs_shifted_by_one": 4,
        "test_no_room_is_a_clear_error": 2,
    },
    "bigram": {
        "test_embedding_table_layout": 3,
        "test_logits_shape_and_no_loss_without_targets": 3,
        "test_loss_is_mean_cross_entropy": 4,
    },
    "generate": {
        "test_shape_dtype_and_prompt_kept": 6,
        "test_context_cropped_to_block_size": 6,
    },
    "head": {
        "test_key_query_value_layout": 5,
        "test_output_shape_dtype_device": 10,
    },
    "multihead": {
        "test_fused_weight_layout": 6,
        "test_output_shape_dtype_device": 6,
        "test_indivisible_n_embd_is_a_clear_error": 3,
    },
    "feedforward": {
        "test_net_layout": 3,
        "test_output_shape_dtype_device": 3,
    },
    "block": {
        "test_sublayers": 5,
        "test_output_shape_dtype_device": 5,
    },
    "gpt": {
        "test_lecture_config_has_10_8M_parameters": 3,
        "test_logits_shape_and_no_loss_without_targets": 3,
        "test_initial_loss_is_near_uniform": 3,
        "test_too_long_sequence_is_a_clear_error": 3,
    },
}

BY_MARKER = {ex.marker: ex for ex in EXERCISES}
BY_NUMBER = {ex.number: ex for ex in EXERCISES}

# Markers that are not exercises.
OTHER_MARKERS = {
    "gpu": "needs CUDA: skipped without a GPU unless --require-gpu is given",
}

TOTAL_POINTS = sum(sum(checks.values()) for checks in POINTS.values())
