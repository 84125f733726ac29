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
        "test_vocabulary_comes_from_the_text": 1,
        "test_encode_hii_there": 1,
        "test_decode_round_trip": 1,
        "test_decode_accepts_a_tensor": 1,
        "test_unknown_character_is_a_clear_error": 1,
        "test_unknown_id_is_a_clear_error": 1,
    },
    "batching": {
        "test_split_keeps_order": 1,
        "test_split_honours_train_fraction": 1,
        "test_batch_shape_dtype_device": 1,
        "test_batch_is_int64_for_int32_data": 1,
        "test_targets_are_inputs_shifted_by_one": 2,
        "test_rows_are_windows_of_the_data": 1,
        "test_every_legal_start_appears": 1,
        "test_starts_are_uniform": 1,
        "test_starts_are_torch_randint_draws": 2,
        "test_no_room_is_a_clear_error": 1,
    },
    "bigram": {
        "test_embedding_table_layout": 1,
        "test_logits_shape_and_no_loss_without_targets": 1,
        "test_logits_are_rows_of_the_table": 2,
        "test_with_targets_logits_keep_their_shape_and_loss_is_a_scalar": 1,
        "test_loss_is_mean_cross_entropy": 3,
        "test_training_reaches_loss_threshold": 2,
    },
    "generate": {
        "test_shape_dtype_and_prompt_kept": 1,
        "test_model_sees_growing_contexts": 2,
        "test_last_step_logits_used": 2,
        "test_context_cropped_to_block_size": 2,
        "test_samples_follow_the_softmax": 3,
        "test_no_autograd_graph": 2,
    },
    "head": {
        "test_key_query_value_layout": 1,
        "test_output_shape_dtype_device": 1,
        "test_future_does_not_change_the_past": 2,
        "test_no_gradient_flows_from_the_future": 1,
        "test_uses_the_past": 1,
        "test_matches_attention_from_its_weights": 5,
        "test_dropout_is_random_in_training_and_off_in_eval": 2,
        "test_dropout_acts_on_the_attention_weights": 2,
    },
    "multihead": {
        "test_fused_weight_layout": 1,
        "test_no_python_loop_over_heads": 1,
        "test_output_shape_dtype_device": 1,
        "test_indivisible_n_embd_is_a_clear_error": 1,
        "test_future_does_not_change_the_past": 2,
        "test_no_gradient_flows_from_the_future": 1,
        "test_uses_the_past": 1,
        "test_heads_are_consecutive_slices_of_c_attn": 1,
        "test_matches_single_heads_from_its_weights": 3,
        "test_dropout_is_random_in_training_and_off_in_eval": 1,
        "test_dropout_after_c_proj": 1,
        "test_dropout_on_the_attention_weights": 1,
    },
    "feedforward": {
        "test_net_layout": 1,
        "test_output_shape_dtype_device": 1,
        "test_matches_oracle": 2,
        "test_dropout_active_in_train_mode": 1,
        "test_position_wise": 1,
    },
    "block": {
        "test_sublayers": 1,
        "test_sublayers_get_the_blocks_arguments": 1,
        "test_output_shape_dtype_device": 1,
        "test_residual_path_passes_the_input_through": 2,
        "test_matches_oracle": 4,
        "test_is_causal": 1,
    },
    "gpt": {
        "test_parts": 1,
        "test_lecture_config_has_10_8M_parameters": 1,
        "test_logits_shape_and_no_loss_without_targets": 1,
        "test_logits_match_oracle": 2,
        "test_loss_is_mean_cross_entropy": 1,
        "test_lecture_init": 1,
        "test_too_long_sequence_is_a_clear_error": 1,
        "test_is_causal": 1,
        "test_past_is_used": 1,
        "test_training_beats_the_bigram": 2,
    },
}

BY_MARKER = {ex.marker: ex for ex in EXERCISES}
BY_NUMBER = {ex.number: ex for ex in EXERCISES}

# Markers that are not exercises.
OTHER_MARKERS = {
    "gpu": "needs CUDA: skipped without a GPU unless --require-gpu is given",
}

TOTAL_POINTS = sum(sum(checks.values()) for checks in POINTS.values())
