/*  The offline commands: `train` (a dataset file into the models, then a checkpoint) and
    `import` (model zips into the data dir). Both start from the data dir's checkpoints, so that
    running `train` twice continues the models rather than starting over. */
#include "trainer_offline.h"

#include "trainer_checkpoint.h"

#include "kms_dataset.h"
#include "kms_file.h"
#include "kms_log.h"
#include "kms_num.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_MAX_DATASET ((size_t) 4 << 30)
#define S_BAD_ROWS_SHOWN 100
#define S_BAR_WIDTH 40

/* The final fit measured on the dataset it was trained on (second pass): what the 2022 server's
   tests reported, and what a person expects after a training run. The prequential figures of
   the model (each sample predicted before it was learned) are printed beside it: they are
   honest about the cold start, and so are poor for small datasets however good the fit. */
typedef struct {
    uint64_t n;
    double mean, m2; /* of the target, Welford */
    double sse, sae;
} s_eval_t;

typedef struct {
    trainer_t *trainer;
    const char *path;
    bool tty;        /* draw a progress bar on stderr */
    int percent;     /* last drawn */
    bool evaluating; /* second pass */
    size_t refused;  /* samples whose numbers may not reach a model */
    size_t unused;   /* samples no model could use (missing features or target) */
    size_t bad_rows;
    s_eval_t eval[TRAINER_MAX_MODELS];
} s_train_t;

/* The dataset parser's progress callback. */
static void s_on_progress(double done, void *arg)
{
    s_train_t *self = arg;
    /* Learning is the first half of the bar, evaluating the second. */
    int percent = (int) ((self->evaluating ? 50 : 0) + done * 50);
    if (!self->tty || percent == self->percent)
        return;
    self->percent = percent;
    char bar[S_BAR_WIDTH + 1];
    int filled = percent * S_BAR_WIDTH / 100;
    for (int i = 0; i < S_BAR_WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[S_BAR_WIDTH] = '\0';
    fprintf(stderr, "\r[%s] %3d%% %s", bar, percent, self->evaluating ? "evaluating" : "training  ");
    fflush(stderr);
}

static void s_bar_clear(s_train_t *self)
{
    if (self->tty && self->percent >= 0) {
        fprintf(stderr, "\r%*s\r", S_BAR_WIDTH + 20, "");
        self->percent = -1;
    }
}

static int s_on_sample(const kms_sample_t *sample, void *arg)
{
    s_train_t *self = arg;
    if (!trainer_sample_values_ok(sample))
        self->refused++;
    else if (trainer_learn(self->trainer, sample, kms_num_wallclock()) == 0)
        self->unused++;
    return 0;
}

static int s_on_eval_sample(const kms_sample_t *sample, void *arg)
{
    s_train_t *self = arg;
    if (!trainer_sample_values_ok(sample))
        return 0;
    for (size_t i = 0; i < trainer_model_count(self->trainer); i++) {
        const kms_model_t *model = trainer_model_at(self->trainer, i);
        double y, predicted;
        if (!kms_values_get(&sample->targets, kms_model_spec(model)->target, &y)
            || kms_model_predict(model, sample, &predicted) != 0)
            continue;
        s_eval_t *e = &self->eval[i];
        e->n++;
        double delta = y - e->mean;
        e->mean += delta / (double) e->n;
        e->m2 += delta * (y - e->mean);
        e->sse += (y - predicted) * (y - predicted);
        e->sae += fabs(y - predicted);
    }
    return 0;
}

static void s_on_bad_row(size_t line, const char *why, void *arg)
{
    s_train_t *self = arg;
    if (++self->bad_rows > S_BAD_ROWS_SHOWN)
        return;
    s_bar_clear(self);
    char file[512], reason[256];
    kms_warn("bad row skipped", "file=%s line=%zu why=%s", kms_log_quote(self->path, file, sizeof file), line,
             kms_log_quote(why, reason, sizeof reason));
    if (self->bad_rows == S_BAD_ROWS_SHOWN)
        kms_warn("more bad rows are not shown, only counted", "file=%s", file);
}

static const char *s_num(double value, char *out, size_t cap)
{
    kms_num_format(value, out, cap);
    return out;
}

static void s_print_summary(const s_train_t *state)
{
    for (size_t i = 0; i < trainer_model_count(state->trainer); i++) {
        const kms_model_t *model = trainer_model_at(state->trainer, i);
        const s_eval_t *e = &state->eval[i];
        kms_model_status_t st;
        kms_model_status(model, &st);
        double n = (double) e->n;
        double r2 = e->n > 1 && e->m2 > 0 ? 1 - e->sse / e->m2 : NAN;
        double rmse = e->n ? sqrt(e->sse / n) : NAN, mae = e->n ? e->sae / n : NAN;
        char t1[32], t2[32], t3[32], t4[32], t5[32];
        printf("model=%s samples=%llu pending=%llu evaluated=%llu r2=%s rmse=%s mae=%s prequential_r2=%s "
               "prequential_rmse=%s ready=%s",
               kms_model_spec(model)->name, (unsigned long long) st.samples, (unsigned long long) st.pending,
               (unsigned long long) e->n, s_num(r2, t1, sizeof t1), s_num(rmse, t2, sizeof t2),
               s_num(mae, t3, sizeof t3), s_num(st.r2, t4, sizeof t4), s_num(st.rmse, t5, sizeof t5),
               st.ready ? "true" : "false");
        if (!st.ready)
            printf(" reason=\"%s\"", st.reason);
        printf("\n");
    }
}

int trainer_offline_train(trainer_t *self, const char *dataset, const char *data_dir)
{
    char quoted[512];
    kms_log_quote(dataset, quoted, sizeof quoted);
    size_t len = 0;
    char *text = kms_file_read(dataset, S_MAX_DATASET, &len);
    if (!text) {
        char err[128];
        kms_error("cannot read the dataset", "file=%s why=%s", quoted, kms_log_quote(strerror(errno), err, sizeof err));
        return 1;
    }
    if (trainer_checkpoint_load(self, data_dir) < 0) {
        free(text);
        return 1;
    }

    s_train_t *state = calloc(1, sizeof *state);
    if (!state) {
        free(text);
        return 1;
    }
    *state = (s_train_t){.trainer = self, .path = dataset, .tty = isatty(STDERR_FILENO) == 1, .percent = -1};
    kms_dataset_visitor_t visitor = {s_on_sample, s_on_bad_row, s_on_progress, state};
    kms_dataset_stats_t stats;
    const char *why = NULL;
    double started = kms_num_monotonic();
    int rc = kms_dataset_parse(text, len, KMS_DATASET_AUTO, &visitor, &stats, &why);
    if (rc == 0) {
        /* The same bytes again, now to measure the final fit; bad rows were reported once. */
        state->evaluating = true;
        kms_dataset_visitor_t evaluator = {s_on_eval_sample, NULL, s_on_progress, state};
        kms_dataset_parse(text, len, stats.format, &evaluator, NULL, NULL);
    }
    s_bar_clear(state);
    free(text);
    if (rc != 0) {
        char reason[300];
        kms_error("dataset unusable: nothing trained, nothing saved", "file=%s format=%s why=%s", quoted,
                  kms_dataset_format_name(stats.format), kms_log_quote(why ? why : "?", reason, sizeof reason));
        free(state);
        return 1;
    }
    printf("dataset=%s format=%s rows=%zu samples=%zu bad_rows=%zu refused=%zu unused=%zu skipped=%zu seconds=%.3f\n",
           quoted, kms_dataset_format_name(stats.format), stats.rows, stats.samples, stats.bad_rows, state->refused,
           state->unused, stats.skipped, kms_num_monotonic() - started);
    s_print_summary(state);
    fflush(stdout);
    free(state);
    if (stats.samples == 0)
        kms_warn("the dataset gave no sample", "file=%s", quoted);
    if (trainer_checkpoint_save(self, data_dir, false) != 0)
        return 1;
    char q_dir[512];
    kms_info("checkpoint saved", "dir=%s", kms_log_quote(data_dir, q_dir, sizeof q_dir));
    return 0;
}

int trainer_offline_import(trainer_t *self, char **files, int count, const char *data_dir)
{
    int status = 0;
    for (int f = 0; f < count; f++) {
        char quoted[512];
        kms_log_quote(files[f], quoted, sizeof quoted);
        const char *why = NULL;
        json_t *history = NULL;
        kms_model_t *model = trainer_checkpoint_read_zip(files[f], &history, &why);
        if (!model) {
            kms_error("not a model zip, not imported", "file=%s why=%s", quoted,
                      kms_log_quote(why, (char[256]){0}, 256));
            status = 1;
            continue;
        }
        const kms_model_spec_t *spec = kms_model_spec(model);
        if (trainer_spec_conflicts(self, spec)) {
            kms_error("model differs from the configured model of that name (features or target), not imported",
                      "file=%s model=%s", quoted, spec->name);
            kms_model_destroy(&model);
            json_decref(history);
            status = 1;
            continue;
        }
        char name[KMS_NAME_MAX];
        snprintf(name, sizeof name, "%s", spec->name);
        kms_model_status_t st;
        kms_model_status(model, &st);
        trainer_model_put(self, model, history, true);
        json_decref(history);
        int index = trainer_model_find(self, name);
        if (index < 0 || trainer_checkpoint_write(self, (size_t) index, data_dir) != 0) {
            status = 1;
            continue;
        }
        char q_dir[512];
        kms_info("model imported", "model=%s samples=%llu file=%s data_dir=%s", name, (unsigned long long) st.samples,
                 quoted, kms_log_quote(data_dir, q_dir, sizeof q_dir));
        printf("model=%s samples=%llu imported into %s\n", name, (unsigned long long) st.samples, data_dir);
    }
    return status;
}
