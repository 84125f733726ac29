"""The rubric: the exercises in lecture order, and the points of every graded check, in one place.

Every other place that lists the exercises reads this table (the plugin's markers, messages and
scores, the student view, the notebook, the reports) or is checked against it (README.md, CONTRACT.md,
exercises/__init__.py, by the kit's tests). The core (the lecture's GPT) is worth 100 points; the extras
that follow it (the lecture's other steps and its suggested exercises) carry points of their own, kept
apart from the core's.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Exercise:
    number: int
    marker: str
    title: str
    module: str  # file in exercises/, without .py
    stubs: tuple  # the functions and methods the student fills in, as qualnames ("Head.forward")
    chapter: str  # lecture timestamp and chapter title
    track: str = "core"  # "core" (counts towards the 100) or "extra" (scored apart)

    @property
    def names(self):
        """The module's public names the student fills in: the functions, and the classes of the methods."""
        return tuple(dict.fromkeys(stub.split(".")[0] for stub in self.stubs))

    @property
    def max_points(self):
        return sum(POINTS[self.marker].values())


EXERCISES = (
    Exercise(1, "tokenizer", "Character tokenizer", "tokenizer",
             ("CharTokenizer.__init__", "CharTokenizer.encode", "CharTokenizer.decode"),
             "00:09:28 tokenization, train/val split"),
    Exercise(2, "batching", "Train/val split and batches", "batching", ("train_val_split", "get_batch"),
             "00:14:27 data loader: batches of chunks of data"),
    Exercise(3, "bigram", "Bigram language model", "bigram",
             ("BigramLanguageModel.__init__", "BigramLanguageModel.forward"),
             "00:22:11 simplest baseline: bigram language model, loss"),
    Exercise(4, "generate", "Autoregressive generation", "generate", ("generate",),
             "00:22:11 generation (and 01:19:11 for cropping the context)"),
    Exercise(5, "head", "One head of self-attention", "attention", ("Head.__init__", "Head.forward"),
             "01:02:00 version 4: self-attention"),
    Exercise(6, "multihead", "Multi-head attention, fused", "attention",
             ("MultiHeadAttention.__init__", "MultiHeadAttention.forward"),
             "01:21:59 multi-headed self-attention"),
    Exercise(7, "feedforward", "Feed-forward layer", "block", ("FeedForward.__init__", "FeedForward.forward"),
             "01:24:25 feedforward layers of transformer block"),
    Exercise(8, "block", "Transformer block", "block", ("Block.__init__", "Block.forward"),
             "01:26:48 residual connections, 01:32:51 layernorm"),
    Exercise(9, "gpt", "The GPT language model", "gpt", ("GPTLanguageModel.__init__", "GPTLanguageModel.forward"),
             "01:37:49 scaling up the model"),
    # The extras, after the core and in lecture order; each is its own track of points.
    Exercise(10, "averaging", "The mathematical trick: averaging the past", "averaging",
             ("average_past_loop", "average_past_matmul", "average_past_softmax"),
             "00:42:13 the mathematical trick in self-attention", track="extra"),
    Exercise(11, "layernorm", "LayerNorm by hand", "layernorm", ("LayerNorm1d.__init__", "LayerNorm1d.forward"),
             "01:32:51 layernorm", track="extra"),
    Exercise(12, "addition", "EX2: a GPT that adds", "addition",
             ("format_problem", "get_addition_batch", "addition_loss", "solve"),
             "01:54:32 conclusions; EX2 in the video's description", track="extra"),
    Exercise(13, "finetune", "EX3: pretrain, then finetune", "finetune", ("load_pretrained", "finetune"),
             "01:48:53 pretraining vs. finetuning; EX3 in the video's description", track="extra"),
    Exercise(14, "modern", "EX4: one modern change", "modern",
             ("chosen_change", "gelu", "GELUFeedForward.__init__", "GELUFeedForward.forward", "tie_weights",
              "apply_rope"),
             "01:46:22 walkthrough of nanoGPT; EX4 in the video's description", track="extra"),
)

# Exercise marker -> {check function: points}. A parametrized check's points are shared equally by its
# parameters. Checks not listed here (the GPU checks) score no points.
POINTS = {
    "tokenizer": {
        "test_vocabulary_has_65_symbols": 1,  # a wrong vocabulary fails the next two checks as well
        "test_vocabulary_comes_from_the_text": 1,
        "test_encode_hii_there": 1,
        "test_decode_round_trip": 1,
        "test_decode_accepts_a_tensor": 1,
        "test_unknown_character_is_a_clear_error": 1,
        "test_unknown_id_is_a_clear_error": 1,
        "test_decode_of_a_2d_tensor_is_a_clear_error": 1,
    },
    "batching": {
        "test_split_keeps_order": 1,
        "test_split_honours_train_fraction": 1,
        "test_bad_train_fraction_is_a_clear_error": 1,
        "test_batch_shape_dtype_device": 1,
        "test_batch_is_int64_for_int32_data": 1,
        "test_targets_are_inputs_shifted_by_one": 2,
        "test_rows_are_windows_of_the_data": 1,
        "test_every_legal_start_appears": 1,
        "test_starts_are_uniform": 1,
        "test_starts_are_torch_randint_draws": 1,  # an off-by-one or a non-uniform draw fails the two above too
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
        "test_tril_is_a_buffer": 1,
        "test_future_does_not_change_the_past": 2,
        "test_no_gradient_flows_from_the_future": 1,
        "test_uses_the_past": 1,
        "test_matches_attention_from_its_weights": 5,
        "test_dropout_is_random_in_training_and_off_in_eval": 1,
        "test_dropout_acts_on_the_attention_weights": 2,
    },
    "multihead": {
        "test_fused_weight_layout": 1,
        "test_no_python_loop_over_heads": 1,
        "test_output_shape_dtype_device": 1,
        "test_tril_is_a_buffer": 1,
        "test_indivisible_n_embd_is_a_clear_error": 1,
        "test_future_does_not_change_the_past": 1,
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
    "averaging": {
        "test_output_shape_dtype_device": 1,
        "test_equals_the_running_mean": 3,
        "test_is_causal": 2,
        "test_first_position_and_a_single_step": 1,
        "test_the_three_versions_agree": 1,
        "test_matmul_version_is_one_matrix_multiply": 1,
        "test_softmax_version_takes_a_masked_softmax": 1,
    },
    "layernorm": {
        "test_parameters_layout": 1,
        "test_output_shape_dtype_device": 1,
        "test_matches_nn_layernorm": 2,
        "test_rows_have_mean_0_and_variance_1": 1,
        "test_normalises_each_position_on_its_own": 1,
        "test_eps_inside_the_square_root": 1,
        "test_constant_row_gives_beta_not_nan": 1,
        "test_gradients_reach_gamma_beta_and_x": 1,
        "test_written_by_hand": 1,
    },
    "addition": {
        "test_format_problem_examples": 1,
        "test_bad_arguments_are_clear_errors": 1,
        "test_batch_shape_dtype_device": 1,
        "test_inputs_are_problems_with_reversed_sums": 1,
        "test_targets_are_next_ids_where_not_masked": 1,
        "test_exactly_the_prompt_is_masked": 1,
        "test_operands_are_uniform": 1,
        "test_operands_are_the_generators_draws": 1,
        "test_loss_ignores_masked_targets": 2,
        "test_solve_decodes_greedily": 2,
        "test_solve_runs_in_eval_mode_without_grad": 1,
        "test_gpt_learns_to_add": 2,
    },
    "finetune": {
        "test_load_restores_the_checkpoint": 2,
        "test_missing_checkpoint_is_a_clear_error": 1,
        "test_finetune_returns_one_loss_per_step": 1,
        "test_finetune_starts_from_the_given_weights": 1,
        "test_finetune_honours_the_learning_rate": 1,
        "test_finetune_matches_the_graders_adamw_loop": 1,
        "test_finetuning_improves_the_pretrained_model": 1,
        "test_pretraining_beats_training_from_scratch": 2,
    },
    "modern": {  # the declared change is graded: the same 15 points whichever it is
        "test_declares_one_change": 1,
        "test_matches_its_definition": 5,
        "test_defining_property": 3,
        "test_interface": 2,
        "test_fits_the_model": 2,
        "test_trains": 2,
    },
}

BY_MARKER = {ex.marker: ex for ex in EXERCISES}
BY_NUMBER = {ex.number: ex for ex in EXERCISES}

# The property (pytest's record_property) of a training check that ran with the grader's own copy of an
# earlier part in the place of the student's: the student's table shows its line even when the check passed.
GRADERS_PARTS = "graders_parts"

# Markers that are not exercises.
OTHER_MARKERS = {
    "gpu": "needs CUDA: skipped without a GPU unless --require-gpu is given",
}

CORE = tuple(ex for ex in EXERCISES if ex.track == "core")
EXTRAS = tuple(ex for ex in EXERCISES if ex.track == "extra")
# The core's points: what "total" means in every report. The extras have their own total.
TOTAL_POINTS = sum(sum(POINTS[ex.marker].values()) for ex in CORE)
EXTRA_POINTS = sum(sum(POINTS[ex.marker].values()) for ex in EXTRAS)


def span(exercises):
    """The numbers of ``exercises`` (in lecture order), for messages: ``Exercises 10-14``,
    ``Exercises 1-4, 6-14``, ``Exercise 5``."""
    numbers = [ex.number for ex in exercises]
    runs, start = [], numbers[0]
    for prev, cur in zip(numbers, numbers[1:] + [None]):
        if cur != prev + 1:
            runs.append(str(start) if start == prev else f"{start}-{prev}")
            start = cur
    return ("Exercise " if len(numbers) == 1 else "Exercises ") + ", ".join(runs)


CORE_SPAN, EXTRAS_SPAN = span(CORE), span(EXTRAS)
# The lecture's modules, in lecture order: the files of exercises/ that hold exercises.
MODULES = tuple(dict.fromkeys(ex.module for ex in EXERCISES))
