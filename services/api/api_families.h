/*  api_families: the trainer's metric families, declared once for kms-api's /metrics
    (api_metrics.c) and its OTLP export (api_otlp.c).

    Each family has its Prometheus name and, when it is exported over OTLP too, its OTLP name
    and unit, chosen so that a backend's OTLP-to-Prometheus translation (unit W -> _watts,
    s -> _seconds, a cumulative sum -> _total) gives the Prometheus name back (unit_api checks
    it). `key` is the field of the trainer's LIST document (kms_proto.h) that holds the value:
    of a model, of its "fit" (with `window_key` the recent window's), or of "trainer". */
#ifndef API_FAMILIES_H
#define API_FAMILIES_H

typedef enum { API_GAUGE, API_COUNTER } api_family_type_t;

typedef enum {
    /* per model */
    API_F_MODEL_INFO,
    API_F_MODEL_READY,
    API_F_MODEL_SAMPLES,
    API_F_MODEL_MIN_SAMPLES,
    API_F_MODEL_CREATED,
    API_F_MODEL_UPDATED,
    API_F_MODEL_DRIFT,
    API_F_MODEL_SKIPPED,
    API_F_MODEL_HELD,
    API_F_MODEL_DRIFTS,
    /* per model, from its fit */
    API_F_MODEL_R2,
    API_F_MODEL_RMSE,
    API_F_MODEL_MAE,
    API_F_MODEL_MAPE,
    /* per model, from its weights */
    API_F_MODEL_BIAS,
    API_F_MODEL_WEIGHT,
    API_F_MODEL_CATEGORY,
    API_F_MODEL_MEAN,
    API_F_MODEL_VARIANCE,
    /* per model and curve family (one-feature models), from its "families" */
    API_F_MODEL_FAMILY_RMSE,
    API_F_MODEL_FAMILY_SERVED,
    /* the trainer */
    API_F_TRAINER_UPTIME,
    API_F_TRAINER_RECEIVED,
    API_F_TRAINER_REJECTED,
    API_F_TRAINER_MALFORMED,
    API_F_TRAINER_GAPS,
    API_F_TRAINER_PUBLISHERS,
    API_F_TRAINER_PUBLISHERS_FORGOTTEN,
    API_F_TRAINER_CHECKPOINTS,
    API_F_TRAINER_CHECKPOINT_ERRORS,
    API_F_TRAINER_LAST_CHECKPOINT,
    API_F_TRAINER_HELD,
    API_F_COUNT
} api_family_id_t;

typedef struct {
    const char *prom; /* Prometheus name */
    api_family_type_t type;
    const char *otlp;       /* OTLP name; NULL: not exported over OTLP */
    const char *unit;       /* OTLP unit (UCUM) */
    const char *key;        /* LIST field; NULL for the families read from the weights or built */
    const char *window_key; /* fit families: the recent window's field */
    const char *help;
} api_family_t;

extern const api_family_t api_families[API_F_COUNT];

/* The trainer families in LIST order, API_F_TRAINER_UPTIME .. API_F_TRAINER_LAST_CHECKPOINT. */
#define API_F_TRAINER_FIRST API_F_TRAINER_UPTIME
#define API_F_TRAINER_LAST API_F_TRAINER_LAST_CHECKPOINT

#endif
