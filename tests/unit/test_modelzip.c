#include "kms_test.h"

#include "kms_modelzip.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

/* A node whose core watts follow a known linear truth of its cpu counters. */
static void s_sample(kms_sample_t *s, unsigned i)
{
    memset(s, 0, sizeof *s);
    strcpy(s->node, "node-1");
    strcpy(s->arch, i % 3 ? "x86_64" : "arm64");
    s->seq = i;
    s->ts = 1.7e9 + 5.0 * i;
    s->dt = 5;
    double cycles = 1e9 + 3e8 * sin(i * 0.7), instr = 2e9 + 5e8 * cos(i * 1.3), cpu = 2 + (i % 7) * 0.5;
    kms_values_set(&s->features, KMS_F_CPU_CYCLES, cycles);
    kms_values_set(&s->features, KMS_F_CPU_INSTRUCTIONS, instr);
    kms_values_set(&s->features, KMS_F_CPU_TIME, cpu);
    kms_values_set(&s->targets, "core", 10 + 2e-9 * cycles + 1e-9 * instr + 3 * cpu + (i % 3 ? 0 : 1.5));
}

static kms_model_t *s_trained(unsigned n)
{
    kms_model_spec_t spec;
    assert_int_equal(kms_model_spec_builtin("core_model", &spec), 0);
    kms_model_t *model = kms_model_new(&spec);
    assert_non_null(model);
    kms_sample_t s;
    for (unsigned i = 0; i < n; i++) {
        s_sample(&s, i);
        kms_learn_result_t result = kms_model_learn(model, &s, 1.7e9 + i);
        /* x86_64's first samples wait for its slot: arm64 came first */
        assert_true(result == KMS_LEARN_OK || (result == KMS_LEARN_PENDING && i < 2 * KMS_MODEL_ARCH_EVIDENCE));
    }
    return model;
}

static void s_assert_same_weights(const kms_model_t *a, const kms_model_t *b)
{
    kms_weights_t wa, wb;
    assert_int_equal(kms_model_weights(a, &wa), 0);
    assert_int_equal(kms_model_weights(b, &wb), 0);
    assert_true(wa.bias == wb.bias);
    assert_int_equal(wa.numeric_count, wb.numeric_count);
    for (size_t i = 0; i < wa.numeric_count; i++) {
        assert_string_equal(wa.numeric[i].name, wb.numeric[i].name);
        assert_true(wa.numeric[i].weight == wb.numeric[i].weight);
        assert_true(wa.numeric[i].scale == wb.numeric[i].scale);
    }
    assert_int_equal(wa.category_count, wb.category_count);
    for (size_t i = 0; i < wa.category_count; i++)
        assert_true(wa.category[i].weight == wb.category[i].weight);
}

/* An entry's bytes, read with libzip directly (not through the module under test). */
static char *s_entry(const void *data, size_t len, const char *name)
{
    zip_source_t *src = zip_source_buffer_create(data, len, 0, NULL);
    assert_non_null(src);
    zip_t *zip = zip_open_from_source(src, ZIP_RDONLY, NULL);
    assert_non_null(zip);
    zip_stat_t st;
    char *text = NULL;
    if (zip_stat(zip, name, 0, &st) == 0) {
        zip_file_t *f = zip_fopen(zip, name, 0);
        assert_non_null(f);
        text = calloc(1, st.size + 1);
        assert_int_equal(zip_fread(f, text, st.size), (zip_int64_t) st.size);
        zip_fclose(f);
    }
    zip_discard(zip);
    return text;
}

static void test_round_trip_continues_exactly(void **state)
{
    (void) state;
    kms_model_t *model = s_trained(60);
    void *zip;
    size_t len;
    const char *why = NULL;
    assert_int_equal(kms_modelzip_write(model, "9.9.9", NULL, &zip, &len, &why), 0);
    assert_true(len > 100);

    json_t *metadata = NULL;
    kms_model_t *copy = kms_modelzip_read(zip, len, &metadata, &why);
    assert_non_null(copy);
    assert_string_equal(kms_model_spec(copy)->name, "core_model");
    s_assert_same_weights(model, copy);

    /* The import continues where the export stopped: the same samples give the same fit. */
    kms_sample_t s;
    for (unsigned i = 60; i < 90; i++) {
        s_sample(&s, i);
        kms_model_learn(model, &s, 1.8e9);
        kms_model_learn(copy, &s, 1.8e9);
    }
    s_assert_same_weights(model, copy);
    kms_model_status_t a, b;
    kms_model_status(model, &a);
    kms_model_status(copy, &b);
    assert_int_equal(a.samples, 90 - (KMS_MODEL_ARCH_EVIDENCE - 1));
    assert_int_equal(b.samples, 90 - (KMS_MODEL_ARCH_EVIDENCE - 1));
    assert_true(a.rmse == b.rmse);

    assert_string_equal(json_string_value(json_object_get(metadata, "name")), "core_model");
    assert_string_equal(json_string_value(json_object_get(metadata, "target")), "core");
    assert_string_equal(json_string_value(json_object_get(metadata, "server_version")), "9.9.9");
    assert_int_equal(json_integer_value(json_object_get(metadata, "samples")), 60 - (KMS_MODEL_ARCH_EVIDENCE - 1));
    assert_int_equal(json_array_size(json_object_get(metadata, "features")), 3);
    assert_true(json_is_object(json_object_get(metadata, "fit")));
    json_decref(metadata);
    free(zip);
    kms_model_destroy(&copy);
    kms_model_destroy(&model);
}

static void test_weights_entry_is_the_served_text(void **state)
{
    (void) state;
    kms_model_t *model = s_trained(40);
    void *zip;
    size_t len;
    assert_int_equal(kms_modelzip_write(model, "1", NULL, &zip, &len, NULL), 0);
    char *served = kms_modelzip_weights_text(model);
    char *zipped = s_entry(zip, len, KMS_MODELZIP_WEIGHTS);
    assert_non_null(served);
    assert_non_null(zipped);
    assert_string_equal(served, zipped);

    /* What Kepler would parse from it predicts what the model predicts. */
    json_t *doc = json_loads(zipped, 0, NULL);
    kms_weights_t weights;
    assert_int_equal(kms_weights_from_json(doc, &weights), 0);
    kms_sample_t s;
    s_sample(&s, 77);
    double mine;
    assert_int_equal(kms_model_predict(model, &s, &mine), 0);
    assert_true(fabs(kms_weights_predict(&weights, &s) - mine) < 1e-9 * fabs(mine));
    assert_string_equal(json_string_value(json_object_get(doc, "model_name")), "core_model");
    json_decref(doc);
    free(served);
    free(zipped);
    free(zip);
    kms_model_destroy(&model);
}

static void test_same_state_same_bytes(void **state)
{
    (void) state;
    kms_model_t *model = s_trained(35);
    void *a, *b;
    size_t alen, blen;
    assert_int_equal(kms_modelzip_write(model, "1", NULL, &a, &alen, NULL), 0);
    assert_int_equal(kms_modelzip_write(model, "1", NULL, &b, &blen, NULL), 0);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, alen);
    free(a);
    free(b);
    kms_model_destroy(&model);
}

static void test_untrained_model_has_no_weights_entry(void **state)
{
    (void) state;
    kms_model_t *model = s_trained(1);
    void *zip;
    size_t len;
    assert_int_equal(kms_modelzip_write(model, "1", NULL, &zip, &len, NULL), 0);
    char *weights = s_entry(zip, len, KMS_MODELZIP_WEIGHTS);
    assert_null(weights);
    char *meta = s_entry(zip, len, KMS_MODELZIP_METADATA);
    assert_non_null(meta);
    free(meta);
    kms_model_t *copy = kms_modelzip_read(zip, len, NULL, NULL);
    assert_non_null(copy);
    kms_model_status_t st;
    kms_model_status(copy, &st);
    assert_int_equal(st.samples, 1);
    assert_false(st.ready);
    kms_model_destroy(&copy);
    free(zip);
    kms_model_destroy(&model);
}

static void test_extra_metadata_is_kept(void **state)
{
    (void) state;
    kms_model_t *model = s_trained(10);
    json_t *extra = json_pack("{s:[[f,f,f]]}", "history", 1.7e9, 0.5, 2.0);
    void *zip;
    size_t len;
    assert_int_equal(kms_modelzip_write(model, "1", extra, &zip, &len, NULL), 0);
    json_t *metadata;
    kms_model_t *copy = kms_modelzip_read(zip, len, &metadata, NULL);
    assert_non_null(copy);
    assert_true(json_equal(json_object_get(metadata, "history"), json_object_get(extra, "history")));
    json_decref(metadata);
    json_decref(extra);
    kms_model_destroy(&copy);
    free(zip);
    kms_model_destroy(&model);
}

static void s_assert_rejected(const void *data, size_t len)
{
    const char *why = NULL;
    json_t *metadata = (json_t *) 1;
    assert_null(kms_modelzip_read(data, len, &metadata, &why));
    assert_non_null(why);
    assert_null(metadata);
}

static void test_corrupt_zips_are_rejected(void **state)
{
    (void) state;
    kms_model_t *model = s_trained(50);
    void *zip;
    size_t len;
    assert_int_equal(kms_modelzip_write(model, "1", NULL, &zip, &len, NULL), 0);

    s_assert_rejected(NULL, 0);
    s_assert_rejected("", 0);
    static const char not_zip[] = "PK\003\004 definitely not a zip";
    s_assert_rejected(not_zip, sizeof not_zip - 1);
    /* Every truncation (a checkpoint cut short by a crash or a full disk). */
    for (size_t cut = 0; cut < len; cut++)
        s_assert_rejected(zip, cut);
    /* A flipped byte anywhere is caught: by the structure checks or by an entry's CRC. */
    unsigned char *bad = malloc(len);
    size_t caught = 0, tried = 0;
    for (size_t at = 0; at < len; at += 7) {
        memcpy(bad, zip, len);
        bad[at] ^= 0x5a;
        tried++;
        const char *why = NULL;
        kms_model_t *copy = kms_modelzip_read(bad, len, NULL, &why);
        if (!copy)
            caught++;
        /* A flip in a field libzip does not check (a timestamp, say) may still read back; the
           state it gives must then be the same model. */
        else {
            s_assert_same_weights(model, copy);
            kms_model_destroy(&copy);
        }
    }
    assert_true(caught > tried / 2);
    free(bad);
    free(zip);
    kms_model_destroy(&model);
}

/* A zip that is well formed but is not a model. */
static void test_foreign_zips_are_rejected(void **state)
{
    (void) state;
    const char *cases[][2] = {
        {"readme.txt", "hello"},
        {KMS_MODELZIP_STATE, "{not json"},
        {KMS_MODELZIP_STATE, "{\"format\":\"something else\"}"},
        {KMS_MODELZIP_STATE, "[1,2,3]"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, NULL);
        zip_t *zip = zip_open_from_source(src, ZIP_TRUNCATE, NULL);
        assert_non_null(zip);
        zip_source_keep(src);
        zip_source_t *entry = zip_source_buffer(zip, cases[c][1], strlen(cases[c][1]), 0);
        assert_true(zip_file_add(zip, cases[c][0], entry, 0) >= 0);
        assert_int_equal(zip_close(zip), 0);
        zip_stat_t st;
        assert_int_equal(zip_source_stat(src, &st), 0);
        assert_int_equal(zip_source_open(src), 0);
        void *bytes = malloc(st.size);
        assert_int_equal(zip_source_read(src, bytes, st.size), (zip_int64_t) st.size);
        zip_source_close(src);
        zip_source_free(src);
        s_assert_rejected(bytes, st.size);
        free(bytes);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_continues_exactly),
        cmocka_unit_test(test_weights_entry_is_the_served_text),
        cmocka_unit_test(test_same_state_same_bytes),
        cmocka_unit_test(test_untrained_model_has_no_weights_entry),
        cmocka_unit_test(test_extra_metadata_is_kept),
        cmocka_unit_test(test_corrupt_zips_are_rejected),
        cmocka_unit_test(test_foreign_zips_are_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
