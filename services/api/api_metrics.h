/*  api_metrics: GET /metrics, Prometheus text format 0.0.4. Pure: documents in, text out.

    From the trainer's LIST document (kms_proto.h), per model (label model):
      kms_model_info{target,features}            1, what the model predicts from what
      kms_model_ready                            1 when it serves weights, else 0
      kms_model_samples_total                    samples learned (counter)
      kms_model_samples_skipped_total{reason}    samples it could not use: missing, invalid
      kms_model_min_samples                      samples needed before it serves weights
      kms_model_r2{window}                       prequential R²; window="all" or "recent"
      kms_model_rmse_watts{window}, kms_model_mae_watts{window}
      kms_model_bias_watts                       Bias_Weight
      kms_model_weight{feature}                  watts per standard deviation of the feature
      kms_model_category_weight{feature,category}  watts; feature="cpu_architecture",
                                                 category the architecture
      kms_model_feature_mean{feature}, kms_model_feature_variance{feature}
      kms_model_created_timestamp_seconds, kms_model_last_update_timestamp_seconds
    and the trainer's STATS as kms_trainer_* (uptime, samples received and rejected, malformed
    frames, sequence gaps, publishers, checkpoints). A value the document lacks is left out,
    never invented. */
#ifndef API_METRICS_H
#define API_METRICS_H

#include <jansson.h>
#include <stdio.h>

#define API_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Writes the model and trainer families for `list` (a LIST document; NULL when the trainer is
   unreachable: only kms_api_trainer_up 0 is written). */
void api_metrics_write(const json_t *list, FILE *out);

#endif
