/* libFuzzer target for kms-api's renderers (services/api/api_metrics.h, api_page.h,
   api_kepler.h): any bytes as the trainer's LIST answer, which kms-api parses with jansson and
   renders for GET /metrics, GET / and POST /model. kms-api trusts the trainer's framing but not
   its content: a trainer of another version, or a garbage one, must not break the API's output.

   Besides the sanitizers' checks, it asserts what the API's clients rely on:
   - /metrics is Prometheus text that the project's strict exposition parser (kms_promtext_read) reads
     without rejecting a single line, with at most one TYPE line per family (promtool's rule);
   - the status page is one whole HTML document without any script, whatever names the models
     carry (the page promises a Content-Security-Policy of default-src 'none');
   - Kepler's component request over these models gives an answer or a reason, never a crash. */
#include "api_kepler.h"
#include "api_metrics.h"
#include "api_page.h"
#include "kms_promtext_read.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHECK(cond) \
    do { \
        if (!(cond)) \
            __builtin_trap(); \
    } while (0)

typedef struct {
    char types[256][128]; /* families with a TYPE line seen so far */
    size_t ntypes;
    size_t rejected;
} s_metrics_run_t;

static int s_on_series(const kms_promtext_series_t *series, void *arg)
{
    (void) series;
    (void) arg;
    return 0;
}

static void s_on_reject(size_t line_no, const char *reason, kms_slice_t line, void *arg)
{
    s_metrics_run_t *run = arg;
    run->rejected++;
    fprintf(stderr, "/metrics line %zu rejected (%s): %.*s\n", line_no, reason, (int) line.len, line.ptr);
}

/* Every "# TYPE name" once. */
static void s_check_types(const char *text, size_t len, s_metrics_run_t *run)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t) (end - p));
        size_t n = nl ? (size_t) (nl - p) : (size_t) (end - p);
        if (n > 7 && memcmp(p, "# TYPE ", 7) == 0) {
            const char *name = p + 7, *sp = memchr(name, ' ', n - 7);
            size_t name_len = sp ? (size_t) (sp - name) : n - 7;
            CHECK(name_len < sizeof run->types[0]);
            for (size_t i = 0; i < run->ntypes; i++)
                CHECK(!(strlen(run->types[i]) == name_len && memcmp(run->types[i], name, name_len) == 0));
            if (run->ntypes < 256) {
                memcpy(run->types[run->ntypes], name, name_len);
                run->types[run->ntypes++][name_len] = '\0';
            }
        }
        p += n + 1;
    }
}

static void s_check_metrics(const json_t *list)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    CHECK(out != NULL);
    api_metrics_write(list, out);
    CHECK(fclose(out) == 0);
    static s_metrics_run_t run;
    memset(&run, 0, sizeof run);
    kms_promtext_handler_t handler = {s_on_series, s_on_reject, &run};
    kms_promtext_stats_t stats;
    kms_promtext_parse(text, len, &handler, &stats);
    CHECK(run.rejected == 0 && stats.rejected == 0);
    CHECK(len == 0 || text[len - 1] == '\n');
    s_check_types(text, len, &run);
    free(text);
}

static void s_check_page(const json_t *list)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    CHECK(out != NULL);
    api_page_write(list, "tcp://127.0.0.1:5556", 1.7e9, out);
    CHECK(fclose(out) == 0);
    CHECK(strlen(text) == len); /* no NUL inside the page */
    for (const char *p = text; (p = strchr(p, '<')) != NULL; p++)
        CHECK(strncasecmp(p, "<script", 7) != 0);
    CHECK(strstr(text, "</html>") != NULL);
    free(text);
}

static void s_check_kepler(const json_t *list)
{
    static api_kepler_request_t req;
    static bool parsed;
    char why[512];
    if (!parsed) {
        json_t *body = json_loads("{\"model_name\":\"\",\"filter\":\"\",\"output_type\":\"AbsComponentModelWeight\","
                                  "\"metrics\":[\"cpu_time\",\"cpu_cycles\",\"cpu_instr\",\"cache_miss\","
                                  "\"container_memory_working_set_bytes\",\"cpu_architecture\"]}",
                                  0, NULL);
        static const api_kepler_config_t config = {API_KEPLER_SAMPLE_PERIOD, API_KEPLER_ERA_AUTO, NULL};
        CHECK(api_kepler_parse(body, &config, &req, why, sizeof why) == 0);
        json_decref(body);
        parsed = true;
    }
    json_t *models = json_object_get(list, "models");
    if (!json_is_array(models))
        return;
    char archive[KMS_NAME_MAX];
    why[0] = '\0';
    int status;
    json_t *answer = api_kepler_answer(models, &req, archive, &status, why, sizeof why);
    CHECK(answer != NULL || why[0] != '\0');
    if (answer) {
        char *text = json_dumps(answer, JSON_COMPACT);
        CHECK(text != NULL);
        free(text);
        json_decref(answer);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *list = json_loadb((const char *) data, size, 0, NULL);
    if (!list)
        return 0;
    s_check_metrics(list);
    s_check_page(list);
    s_check_kepler(list);
    json_decref(list);
    return 0;
}
