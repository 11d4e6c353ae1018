#include "api_families.h"

#include <stddef.h>

#define G API_GAUGE
#define C API_COUNTER
const api_family_t api_families[API_F_COUNT] = {
    [API_F_MODEL_INFO] = {"kms_model_info", G, NULL, "", NULL, NULL, "The model's target and features (always 1)."},
    [API_F_MODEL_READY] = {"kms_model_ready", G, "kms_model_ready", "", "ready", NULL,
                           "1 when the model serves weights, 0 while it is not trained enough."},
    [API_F_MODEL_SAMPLES] = {"kms_model_samples_total", C, "kms_model_samples", "{sample}", "samples", NULL,
                             "Samples the model learned from."},
    [API_F_MODEL_MIN_SAMPLES] = {"kms_model_min_samples", G, NULL, "", "min_samples", NULL,
                                 "Samples a model needs before it serves weights."},
    [API_F_MODEL_CREATED] = {"kms_model_created_timestamp_seconds", G, NULL, "s", "created", NULL,
                             "When the model was created, unix seconds."},
    [API_F_MODEL_UPDATED] = {"kms_model_last_update_timestamp_seconds", G, NULL, "s", "updated", NULL,
                             "When the model last learned, unix seconds."},
    [API_F_MODEL_DRIFT] = {"kms_model_drift", G, NULL, "", "drift", NULL,
                           "1 when the model's residual gate sees a drift, or its recent MAE is 3 times its "
                           "long-run MAE."},
    [API_F_MODEL_HELD] = {"kms_model_samples_held_back_total", C, NULL, "{sample}", "held_back", NULL,
                          "Samples the model's residual gate held back: outlier (far from its prediction), drift "
                          "(out of the gate in a drift, and the model does not forget)."},
    [API_F_MODEL_DRIFTS] = {"kms_model_drifts_total", C, NULL, "{drift}", NULL, NULL,
                            "Drifts the model's residual gate recognised."},
    [API_F_MODEL_SKIPPED] = {"kms_model_samples_skipped_total", C, NULL, "{sample}", NULL, NULL,
                             "Samples the model did not learn from: missing (lacked a feature or the target), "
                             "invalid, pending (their architecture was still earning a slot)."},
    [API_F_MODEL_R2] = {"kms_model_r2", G, "kms_model_r2", "", "r2", "window_r2",
                        "Prequential coefficient of determination (R²) of the model's predictions."},
    [API_F_MODEL_RMSE] = {"kms_model_rmse_watts", G, "kms_model_rmse", "W", "rmse", "window_rmse",
                          "Prequential root mean squared error of the predictions."},
    [API_F_MODEL_MAE] = {"kms_model_mae_watts", G, "kms_model_mae", "W", "mae", "window_mae",
                         "Prequential mean absolute error of the predictions."},
    [API_F_MODEL_MAPE] = {"kms_model_mape_ratio", G, NULL, "1", "mape", "window_mape",
                          "Prequential mean absolute percentage error of the predictions, as a ratio (0.02 = 2%)."},
    [API_F_MODEL_BIAS] = {"kms_model_bias_watts", G, "kms_model_bias", "W", NULL, NULL, "The model's Bias_Weight."},
    [API_F_MODEL_WEIGHT] = {"kms_model_weight", G, "kms_model_weight", "", NULL, NULL,
                            "Watts per standard deviation of the feature (Numerical_Variables weight)."},
    [API_F_MODEL_CATEGORY] = {"kms_model_category_weight", G, "kms_model_category_weight", "", NULL, NULL,
                              "Watts added for a category, such as the cpu architecture."},
    [API_F_MODEL_MEAN] = {"kms_model_feature_mean", G, "kms_model_feature_mean", "", NULL, NULL,
                          "Numerical_Variables mean of the feature (0: the weights are on the raw scale)."},
    [API_F_MODEL_VARIANCE] = {"kms_model_feature_variance", G, "kms_model_feature_variance", "", NULL, NULL,
                              "Numerical_Variables variance of the feature (its scale squared)."},
    [API_F_MODEL_FAMILY_RMSE] = {"kms_model_family_rmse_watts", G, NULL, "W", NULL, NULL,
                                 "Recent prequential RMSE of each model family a one-feature model fits side by "
                                 "side (linear, logarithmic, logistic, exponential)."},
    [API_F_MODEL_FAMILY_SERVED] = {"kms_model_family_served", G, NULL, "", NULL, NULL,
                                   "1 for the family the model serves (to Kepler 0.7.12+), 0 for the others."},
    [API_F_TRAINER_UPTIME] = {"kms_trainer_uptime_seconds", G, "kms_trainer_uptime", "s", "uptime", NULL,
                              "Seconds since the trainer started."},
    [API_F_TRAINER_RECEIVED] = {"kms_trainer_samples_received_total", C, "kms_trainer_samples_received", "{sample}",
                                "samples_received", NULL, "Samples the trainer received."},
    [API_F_TRAINER_REJECTED] = {"kms_trainer_samples_rejected_total", C, "kms_trainer_samples_rejected", "{sample}",
                                "samples_rejected", NULL, "Samples the trainer rejected."},
    [API_F_TRAINER_MALFORMED] = {"kms_trainer_frames_malformed_total", C, "kms_trainer_frames_malformed", "{frame}",
                                 "frames_malformed", NULL, "Frames that were not valid samples."},
    [API_F_TRAINER_GAPS] = {"kms_trainer_seq_gaps_total", C, "kms_trainer_seq_gaps", "{sample}", "seq_gaps", NULL,
                            "Samples lost between publisher and trainer."},
    [API_F_TRAINER_PUBLISHERS] = {"kms_trainer_publishers", G, "kms_trainer_publishers", "", "publishers", NULL,
                                  "Publishers the trainer has heard from."},
    [API_F_TRAINER_PUBLISHERS_FORGOTTEN] = {"kms_trainer_publishers_forgotten_total", C,
                                            "kms_trainer_publishers_forgotten", "{publisher}", "publishers_forgotten",
                                            NULL,
                                            "Publishers forgotten to make room in the trainer's table of 16,384."},
    [API_F_TRAINER_CHECKPOINTS] = {"kms_trainer_checkpoints_total", C, "kms_trainer_checkpoints", "{checkpoint}",
                                   "checkpoints", NULL, "Checkpoints the trainer wrote."},
    [API_F_TRAINER_CHECKPOINT_ERRORS] = {"kms_trainer_checkpoint_errors_total", C, "kms_trainer_checkpoint_errors",
                                         "{checkpoint}", "checkpoint_errors", NULL, "Checkpoints that failed."},
    [API_F_TRAINER_LAST_CHECKPOINT] = {"kms_trainer_last_checkpoint_timestamp_seconds", G, NULL, "s", "last_checkpoint",
                                       NULL, "When the trainer last wrote a checkpoint, unix seconds."},
    [API_F_TRAINER_HELD] = {"kms_trainer_samples_held_back_total", C, NULL, "{sample}", "held_back", NULL,
                            "Samples the plausibility gate held back, counted per model that held them: bounds (a "
                            "target beyond its physical bound: all models), outlier, drift."},
};
#undef G
#undef C
