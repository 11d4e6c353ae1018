/* libFuzzer target for POST /model's body as kms-api's route handler reads it (api_body.h),
   deep and wide documents first: the bytes are read on a thread with the stack Debian's
   civetweb gives its workers (100 KB), where 900 nested arrays once overflowed inside jansson.

   Besides the sanitizers' checks: a body nested deeper than KMS_JSON_MAX_DEPTH is refused and
   says so; a refusal says why; an accepted request has its metrics and output type, and is
   answered (from no model at all: every answer is then a refusal) without a crash. */
#include "api_body.h"
#include "kms_json.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) \
    do { \
        if (!(cond)) \
            __builtin_trap(); \
    } while (0)
#define S_CIVETWEB_STACK 102400 /* USE_STACK_SIZE of Debian 12's libcivetweb1 */

typedef struct {
    const char *body;
    size_t len;
} s_input_t;

static void *s_handle(void *arg)
{
    const s_input_t *in = arg;
    api_kepler_request_t req;
    char why[512] = "";
    bool deep = kms_json_too_deep(in->body, in->len, KMS_JSON_MAX_DEPTH);
    static const api_kepler_config_t config = {API_KEPLER_SAMPLE_PERIOD, API_KEPLER_ERA_AUTO, NULL};
    if (api_body_kepler(in->body, in->len, &config, &req, why, sizeof why) != 0) {
        CHECK(why[0] != '\0');
        CHECK(!deep || strstr(why, "nested deeper") != NULL);
        return NULL;
    }
    CHECK(!deep);
    CHECK(req.metric_count <= API_KEPLER_MAX_METRICS
          && req.output_type[0] != '\0'); /* an empty list is read, then answered 404 */
    json_t *none = json_array();
    char archive[KMS_NAME_MAX], reason[1024];
    int status;
    json_t *answer = api_kepler_answer(none, &req, archive, &status, reason, sizeof reason);
    CHECK(answer == NULL && (archive[0] || reason[0]));
    json_decref(none);
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_input_t in = {(const char *) data, size};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, S_CIVETWEB_STACK);
    pthread_t thread;
    CHECK(pthread_create(&thread, &attr, s_handle, &in) == 0);
    pthread_join(thread, NULL);
    pthread_attr_destroy(&attr);
    return 0;
}
