/*  kms_proto: the trainer's control protocol (REQ/REP over ZeroMQ, --control).

    A request is one or two frames: the command, then its argument when it has one.
    A reply is always two frames: a status code as text ("200", "400", "404", "503"), then the
    body. Bodies are JSON except a ZIP's 200 body, which is the zip file itself. Every error
    body is {"error": "..."}; a 503 for a model not ready yet adds "samples" and "min_samples".

      PING                -> 200 {"status":"ok","version":"..."}
      LIST                -> 200 {"models":[MODEL...], "trainer":STATS}
      WEIGHTS <model>     -> 200 weights document (kms_weights.h) | 404 | 503
      ZIP <model>         -> 200 zip bytes (weights.json, metadata.json, state.json) | 404 | 503
      STATS               -> 200 STATS
      anything else       -> 400

    MODEL = {"name", "features":[...], "target", "ready":bool, "reason", "samples", "missing",
             "missing_feature", "invalid", "pending" (samples of an architecture still earning its
             slot), "archs_reclaimed", "held_back":{"outlier","drift","drifts"} (the residual gate),
             "drift":bool, "min_samples", "created", "updated",
             "fit":{"r2","rmse","mae","mape","window_r2","window_rmse","window_mae","window_mape"}
             (null when unknown; mape a ratio),
             "weights": weights document or null,
             "families": one-feature models' curve families, each candidate's recent error and
                         which is served (kms_family_json), or null,
             "history": [[unix_ts, window_r2, window_rmse], ...] (recent, oldest first)}
    STATS = {"uptime", "samples_received", "samples_rejected", "frames_malformed",
             "seq_gaps", "publishers", "checkpoints", "checkpoint_errors", "last_checkpoint",
             "held_back":{"bounds","outlier","drift","publishers":[{"node","bounds","outlier","drift"}]}} */
#ifndef KMS_PROTO_H
#define KMS_PROTO_H

#define KMS_PROTO_PING "PING"
#define KMS_PROTO_LIST "LIST"
#define KMS_PROTO_WEIGHTS "WEIGHTS"
#define KMS_PROTO_ZIP "ZIP"
#define KMS_PROTO_STATS "STATS"

#define KMS_PROTO_OK "200"
#define KMS_PROTO_BAD_REQUEST "400"
#define KMS_PROTO_NOT_FOUND "404"
#define KMS_PROTO_UNAVAILABLE "503"

#endif
