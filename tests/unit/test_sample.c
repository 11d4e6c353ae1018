#include "kms_test_json.h"

#include "kms_sample.h"
#include "kms_sample_json.h"
#include "kms_sample_msgpack.h"

#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A node sample with every field set, and its container twin. */
static kms_sample_t s_node_sample(void)
{
    kms_sample_t s;
    memset(&s, 0, sizeof s);
    s.seq = 42;
    s.ts = 1764187512.25;
    s.dt = 5.0;
    strcpy(s.node, "worker-1");
    strcpy(s.arch, "Sapphire Rapids");
    kms_values_set(&s.features, KMS_F_CPU_CYCLES, 2.5e9);
    kms_values_set(&s.features, KMS_F_CPU_INSTRUCTIONS, 3.1e9);
    kms_values_set(&s.features, KMS_F_CPU_TIME, 1.75);
    kms_values_set(&s.features, KMS_F_RESIDENT_MEMORY, 8589934592.0);
    kms_values_set(&s.targets, "core", 31.5);
    kms_values_set(&s.targets, "dram", 4.25);
    kms_values_set(&s.targets, "package", -0.0);
    return s;
}

static kms_sample_t s_container_sample(void)
{
    kms_sample_t s = s_node_sample();
    s.is_container = true;
    strcpy(s.container_id, "0123456789abcdef");
    strcpy(s.pod, "nginx-7d9c");
    strcpy(s.namespace_, "default");
    strcpy(s.container, "nginx");
    return s;
}

static void s_assert_values_equal(const kms_values_t *a, const kms_values_t *b)
{
    assert_int_equal(a->count, b->count);
    for (size_t i = 0; i < a->count; i++) {
        assert_string_equal(a->items[i].name, b->items[i].name);
        assert_memory_equal(&a->items[i].value, &b->items[i].value, sizeof(double));
    }
}

static void s_assert_samples_equal(const kms_sample_t *a, const kms_sample_t *b)
{
    assert_int_equal(a->seq, b->seq);
    assert_true(a->ts == b->ts);
    assert_true(a->dt == b->dt);
    assert_string_equal(a->node, b->node);
    assert_string_equal(a->arch, b->arch);
    assert_int_equal(a->cpus, b->cpus);
    s_assert_values_equal(&a->features, &b->features);
    s_assert_values_equal(&a->targets, &b->targets);
    assert_int_equal(a->is_container, b->is_container);
    assert_string_equal(a->container_id, b->container_id);
    assert_string_equal(a->pod, b->pod);
    assert_string_equal(a->namespace_, b->namespace_);
    assert_string_equal(a->container, b->container);
}

/* ---------------------------------------------------------------------------------------------
   Frames built by hand with msgpack-c, to send the decoder what other publishers might. The
   valid map is packed key by key; `bad_key` gets `bad` packed as its value instead, and
   `extra`, when set, is packed as one more key/value pair before the known keys. */

typedef void (*s_packer_fn)(msgpack_packer *pk);

static void s_str(msgpack_packer *pk, const char *text)
{
    msgpack_pack_str(pk, strlen(text));
    msgpack_pack_str_body(pk, text, strlen(text));
}

static void s_build(msgpack_sbuffer *sb, const char *bad_key, s_packer_fn bad, s_packer_fn extra, const char *omit)
{
    static const char *const keys[] = {"v",        "seq",     "ts",           "dt",  "node",      "arch",
                                       "features", "targets", "container_id", "pod", "namespace", "container"};
    msgpack_sbuffer_init(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    size_t n = 12 - (omit ? 1 : 0) + (extra ? 1 : 0);
    msgpack_pack_map(&pk, n);
    if (extra)
        extra(&pk);
    for (size_t i = 0; i < 12; i++) {
        const char *key = keys[i];
        if (omit && strcmp(key, omit) == 0)
            continue;
        s_str(&pk, key);
        if (bad_key && strcmp(key, bad_key) == 0) {
            bad(&pk);
        } else if (strcmp(key, "v") == 0) {
            msgpack_pack_int(&pk, 1);
        } else if (strcmp(key, "seq") == 0) {
            msgpack_pack_uint64(&pk, 7);
        } else if (strcmp(key, "ts") == 0) {
            msgpack_pack_double(&pk, 1700000000.5);
        } else if (strcmp(key, "dt") == 0) {
            msgpack_pack_double(&pk, 2.0);
        } else if (strcmp(key, "features") == 0) {
            msgpack_pack_map(&pk, 1);
            s_str(&pk, "cpu_time");
            msgpack_pack_double(&pk, 0.5);
        } else if (strcmp(key, "targets") == 0) {
            msgpack_pack_map(&pk, 1);
            s_str(&pk, "core");
            msgpack_pack_double(&pk, 12.0);
        } else {
            s_str(&pk, key); /* strings: the key's own name as value */
        }
    }
}

static int s_decode_sb(msgpack_sbuffer *sb, kms_sample_t *out, const char **why)
{
    int rc = kms_sample_decode(sb->data, sb->size, out, why);
    msgpack_sbuffer_destroy(sb);
    return rc;
}

/* The frame s_build makes with these changes, decoded into *out. */
static int s_decode_built(const char *bad_key, s_packer_fn bad, s_packer_fn extra, const char *omit, kms_sample_t *out,
                          const char **why)
{
    msgpack_sbuffer sb;
    s_build(&sb, bad_key, bad, extra, omit);
    return s_decode_sb(&sb, out, why);
}

/* That frame is refused with a reason, one that names `needle` when it is not NULL. */
static void s_expect_refused(const char *bad_key, s_packer_fn bad, s_packer_fn extra, const char *omit,
                             const char *needle)
{
    kms_sample_t out;
    const char *why = NULL;
    if (s_decode_built(bad_key, bad, extra, omit, &out, &why) != -1)
        fail_msg("a frame with %s changed was accepted", bad_key ? bad_key : omit ? omit : "an extra key");
    assert_non_null(why);
    if (needle && !strstr(why, needle))
        fail_msg("'%s' lacks '%s'", why, needle);
}

/* clang-format off */
static void s_nil(msgpack_packer *pk) { msgpack_pack_nil(pk); }
static void s_true(msgpack_packer *pk) { msgpack_pack_true(pk); }
static void s_string(msgpack_packer *pk) { s_str(pk, "12"); }
static void s_int(msgpack_packer *pk) { msgpack_pack_int(pk, 3); }
static void s_negative(msgpack_packer *pk) { msgpack_pack_int(pk, -3); }
static void s_float(msgpack_packer *pk) { msgpack_pack_double(pk, 3.5); }
static void s_nan(msgpack_packer *pk) { msgpack_pack_double(pk, NAN); }
static void s_inf(msgpack_packer *pk) { msgpack_pack_float(pk, INFINITY); }
static void s_array(msgpack_packer *pk) { msgpack_pack_array(pk, 1); msgpack_pack_int(pk, 1); }
static void s_bin(msgpack_packer *pk) { msgpack_pack_bin(pk, 2); msgpack_pack_bin_body(pk, "ab", 2); }
static void s_empty_map(msgpack_packer *pk) { msgpack_pack_map(pk, 0); }
/* clang-format on */
static void s_map_int_key(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    msgpack_pack_int(pk, 1);
    msgpack_pack_double(pk, 1.0);
}
static void s_map_str_value(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    s_str(pk, "cpu_time");
    s_str(pk, "1.0");
}
static void s_map_nan_value(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    s_str(pk, "cpu_time");
    msgpack_pack_double(pk, NAN);
}
static void s_map_inf_value(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    s_str(pk, "core");
    msgpack_pack_double(pk, -INFINITY);
}
static void s_map_nested(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    s_str(pk, "cpu_time");
    msgpack_pack_map(pk, 0);
}
static void s_map_empty_name(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    s_str(pk, "");
    msgpack_pack_double(pk, 1.0);
}

static void test_node_and_container_samples_round_trip_exactly_with_their_topic(void **state)
{
    (void) state;
    kms_sample_t samples[2] = {s_node_sample(), s_container_sample()};
    for (int i = 0; i < 2; i++) {
        char buf[KMS_SAMPLE_MAX_FRAME];
        size_t len = kms_sample_encode(&samples[i], buf, sizeof buf);
        assert_true(len > 0);
        kms_sample_t out;
        const char *why = NULL;
        assert_int_equal(kms_sample_decode(buf, len, &out, &why), 0);
        assert_null(why);
        s_assert_samples_equal(&samples[i], &out);
        assert_string_equal(kms_sample_topic(&out), i ? KMS_TOPIC_CONTAINER : KMS_TOPIC_NODE);
    }
}

/* The wire keys are exactly the contract's, read here by msgpack-c itself. */
static void test_the_wire_keys_are_exactly_the_contracts_in_order(void **state)
{
    (void) state;
    kms_sample_t s = s_container_sample();
    char buf[4096];
    size_t len = kms_sample_encode(&s, buf, sizeof buf);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, buf, len, NULL), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(u.data.type, MSGPACK_OBJECT_MAP);
    static const char *const keys[] = {"v",        "seq",     "ts",           "dt",  "node",      "arch",
                                       "features", "targets", "container_id", "pod", "namespace", "container"};
    assert_int_equal(u.data.via.map.size, 12);
    for (size_t i = 0; i < 12; i++) {
        msgpack_object_kv *kv = &u.data.via.map.ptr[i];
        assert_int_equal(kv->key.type, MSGPACK_OBJECT_STR);
        assert_int_equal(kv->key.via.str.size, strlen(keys[i]));
        assert_memory_equal(kv->key.via.str.ptr, keys[i], strlen(keys[i]));
    }
    assert_int_equal(u.data.via.map.ptr[0].val.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal(u.data.via.map.ptr[0].val.via.u64, 1);
    assert_int_equal(u.data.via.map.ptr[2].val.type, MSGPACK_OBJECT_FLOAT64);
    msgpack_unpacked_destroy(&u);
}

static void test_encoding_into_too_small_a_buffer_fails_and_an_exact_one_fits(void **state)
{
    (void) state;
    kms_sample_t s = s_container_sample();
    char buf[4096];
    size_t len = kms_sample_encode(&s, buf, sizeof buf);
    assert_true(len > 0);
    for (size_t cap = 0; cap < len; cap++) {
        char *small = malloc(cap ? cap : 1);
        assert_int_equal(kms_sample_encode(&s, small, cap), 0);
        free(small);
    }
    char *exact = malloc(len);
    assert_int_equal(kms_sample_encode(&s, exact, len), len);
    assert_memory_equal(exact, buf, len);
    free(exact);
}

static void test_encode_refuses_non_finite(void **state)
{
    (void) state;
    char buf[4096];
    kms_sample_t s = s_node_sample();
    kms_values_set(&s.features, KMS_F_CPU_TIME, NAN);
    assert_int_equal(kms_sample_encode(&s, buf, sizeof buf), 0);
    s = s_node_sample();
    kms_values_set(&s.targets, "core", INFINITY);
    assert_int_equal(kms_sample_encode(&s, buf, sizeof buf), 0);
    s = s_node_sample();
    s.ts = NAN;
    assert_int_equal(kms_sample_encode(&s, buf, sizeof buf), 0);
}

static void test_every_truncation_fails(void **state)
{
    (void) state;
    kms_sample_t s = s_container_sample();
    char buf[4096];
    size_t len = kms_sample_encode(&s, buf, sizeof buf);
    for (size_t cut = 0; cut < len; cut++) {
        /* a heap copy of exactly `cut` bytes, so that ASan sees any read past the end */
        char *copy = malloc(cut ? cut : 1);
        memcpy(copy, buf, cut);
        kms_sample_t out;
        const char *why = NULL;
        assert_int_equal(kms_sample_decode(copy, cut, &out, &why), -1);
        assert_non_null(why);
        free(copy);
    }
}

static void test_trailing_bytes_rejected(void **state)
{
    (void) state;
    kms_sample_t s = s_node_sample();
    char buf[4096];
    size_t len = kms_sample_encode(&s, buf, sizeof buf - 1);
    buf[len] = (char) 0xc0;
    kms_sample_t out;
    assert_int_equal(kms_sample_decode(buf, len + 1, &out, NULL), -1);
}

/* Each key with values of the wrong type; and the cross-typed numbers that must be accepted. */
static void test_each_key_with_a_value_of_the_wrong_type_is_refused(void **state)
{
    (void) state;
    /* clang-format off */
    static const struct {
        const char *key;
        s_packer_fn bad;
    } cases[] = {
        {"v", s_nil}, {"v", s_string}, {"v", s_negative}, {"v", s_float}, {"v", s_true},
        {"seq", s_nil}, {"seq", s_string}, {"seq", s_negative}, {"seq", s_float},
        {"seq", s_array}, {"seq", s_nan},
        {"ts", s_nil}, {"ts", s_string}, {"ts", s_true}, {"ts", s_nan}, {"ts", s_inf},
        {"ts", s_array}, {"ts", s_empty_map},
        {"dt", s_nil}, {"dt", s_string}, {"dt", s_negative}, {"dt", s_nan}, {"dt", s_bin},
        {"node", s_nil}, {"node", s_int}, {"node", s_bin}, {"node", s_array}, {"node", s_float},
        {"arch", s_nil}, {"arch", s_int}, {"arch", s_empty_map}, {"arch", s_true},
        {"features", s_nil}, {"features", s_array}, {"features", s_string},
        {"features", s_map_int_key}, {"features", s_map_str_value}, {"features", s_map_nan_value},
        {"features", s_map_nested}, {"features", s_map_empty_name},
        {"targets", s_int}, {"targets", s_map_inf_value}, {"targets", s_map_str_value},
        {"targets", s_map_nested},
        {"container_id", s_int}, {"pod", s_nil}, {"namespace", s_array}, {"container", s_float},
    };
    /* clang-format on */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        s_expect_refused(cases[i].key, cases[i].bad, NULL, NULL, NULL);
}

/* clang-format off */
static void s_int_ts(msgpack_packer *pk) { msgpack_pack_int64(pk, 1700000000); }
static void s_float_seq(msgpack_packer *pk) { msgpack_pack_double(pk, 9.0); }
static void s_float_v(msgpack_packer *pk) { msgpack_pack_double(pk, 1.0); }
/* clang-format on */
static void s_map_int_values(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    s_str(pk, "cpu_cycles");
    msgpack_pack_uint64(pk, 3000000000ULL);
    s_str(pk, "cpu_time");
    msgpack_pack_float(pk, 0.25f);
}

static void s_map_duplicate_names(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    s_str(pk, "cpu_time");
    msgpack_pack_double(pk, 1.0);
    s_str(pk, "cpu_cycles");
    msgpack_pack_double(pk, 2.0);
    s_str(pk, "cpu_time");
    msgpack_pack_double(pk, 3.0);
}

/* A name given twice: the later value stands, as kms_values_set would have it. */
static void test_a_value_named_twice_keeps_the_later_one(void **state)
{
    (void) state;
    kms_sample_t out;
    assert_int_equal(s_decode_built("features", s_map_duplicate_names, NULL, NULL, &out, NULL), 0);
    assert_int_equal(out.features.count, 2);
    double v;
    assert_true(kms_values_get(&out.features, "cpu_time", &v) && v == 3.0);
    assert_true(kms_values_get(&out.features, "cpu_cycles", &v) && v == 2.0);
}

static void test_integers_and_floats_are_accepted_for_each_other(void **state)
{
    (void) state;
    kms_sample_t out;
    double v;
    assert_int_equal(s_decode_built("ts", s_int_ts, NULL, NULL, &out, NULL), 0);
    assert_true(out.ts == 1700000000.0);
    assert_int_equal(s_decode_built("seq", s_float_seq, NULL, NULL, &out, NULL), 0);
    assert_int_equal(out.seq, 9);
    assert_int_equal(s_decode_built("v", s_float_v, NULL, NULL, &out, NULL), 0);
    assert_int_equal(s_decode_built("dt", s_int, NULL, NULL, &out, NULL), 0);
    assert_true(out.dt == 3.0);
    assert_int_equal(s_decode_built("features", s_map_int_values, NULL, NULL, &out, NULL), 0);
    assert_true(kms_values_get(&out.features, "cpu_cycles", &v) && v == 3e9);
    assert_true(kms_values_get(&out.features, "cpu_time", &v) && v == 0.25);
    assert_int_equal(s_decode_built("targets", s_empty_map, NULL, NULL, &out, NULL), 0);
    assert_int_equal(out.targets.count, 0);
}

static void s_unknown_nested(msgpack_packer *pk)
{
    s_str(pk, "labels");
    msgpack_pack_map(pk, 2);
    s_str(pk, "a");
    msgpack_pack_array(pk, 3);
    msgpack_pack_nil(pk);
    msgpack_pack_map(pk, 1);
    msgpack_pack_int(pk, 5);
    msgpack_pack_array(pk, 0);
    msgpack_pack_bin(pk, 1);
    msgpack_pack_bin_body(pk, "x", 1);
    msgpack_pack_int(pk, -7);
    msgpack_pack_ext(pk, 1, 3);
    msgpack_pack_ext_body(pk, "e", 1);
}
static void s_unknown_int_key(msgpack_packer *pk)
{
    msgpack_pack_int(pk, 99);
    msgpack_pack_double(pk, NAN); /* unknown, so not checked */
}

static void test_unknown_keys_skipped(void **state)
{
    (void) state;
    s_packer_fn extras[] = {s_unknown_nested, s_unknown_int_key};
    for (size_t i = 0; i < 2; i++) {
        kms_sample_t out;
        assert_int_equal(s_decode_built(NULL, NULL, extras[i], NULL, &out, NULL), 0);
        assert_int_equal(out.seq, 7);
        assert_string_equal(out.node, "node");
        assert_string_equal(out.pod, "pod");
        assert_true(out.is_container);
        double v;
        assert_true(kms_values_get(&out.targets, "core", &v) && v == 12.0);
    }
}

static void test_each_missing_required_key_is_named_and_container_id_is_optional(void **state)
{
    (void) state;
    static const char *const required[] = {"v", "seq", "ts", "dt", "node", "arch", "features", "targets"};
    for (size_t i = 0; i < 8; i++)
        s_expect_refused(NULL, NULL, NULL, required[i], required[i]);
    /* container identity is optional: without container_id it is still a container sample */
    kms_sample_t out;
    assert_int_equal(s_decode_built(NULL, NULL, NULL, "container_id", &out, NULL), 0);
    assert_true(out.is_container);
    assert_string_equal(out.container_id, "");
}

/* clang-format off */
static void s_v2(msgpack_packer *pk) { msgpack_pack_int(pk, 2); }
static void s_v0(msgpack_packer *pk) { msgpack_pack_int(pk, 0); }
/* clang-format on */

static void test_a_version_other_than_1_is_refused(void **state)
{
    (void) state;
    s_expect_refused("v", s_v2, NULL, NULL, "version");
    s_expect_refused("v", s_v0, NULL, NULL, "version");
}

static void test_the_longest_strings_round_trip_and_one_byte_more_is_refused(void **state)
{
    (void) state;
    char buf[KMS_SAMPLE_MAX_FRAME];
    kms_sample_t out;
    kms_sample_t s = s_container_sample();
    /* the longest that fit */
    memset(s.node, 'n', KMS_ID_MAX - 1);
    s.node[KMS_ID_MAX - 1] = '\0';
    memset(s.pod, 'p', KMS_ID_MAX - 1);
    s.pod[KMS_ID_MAX - 1] = '\0';
    memset(s.arch, 'a', KMS_NAME_MAX - 1);
    s.arch[KMS_NAME_MAX - 1] = '\0';
    size_t len = kms_sample_encode(&s, buf, sizeof buf);
    assert_int_equal(kms_sample_decode(buf, len, &out, NULL), 0);
    s_assert_samples_equal(&s, &out);

    /* one more byte on the wire: packed by hand since the struct cannot hold it */
    static char long_id[KMS_ID_MAX + 1], long_name[KMS_NAME_MAX + 1];
    memset(long_id, 'x', KMS_ID_MAX);
    memset(long_name, 'y', KMS_NAME_MAX);
    static const char *const id_keys[] = {"node", "container_id", "pod", "namespace", "container"};
    for (size_t i = 0; i < 6; i++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        /* an extra key overriding one string, after the valid ones: later keys win */
        kms_sample_t base = s_node_sample();
        size_t blen = kms_sample_encode(&base, buf, sizeof buf);
        assert_true((uint8_t) buf[0] == 0x88);
        buf[0] = (char) 0x89; /* fixmap of 9 */
        msgpack_sbuffer_write(&sb, buf, blen);
        if (i < 5) {
            s_str(&pk, id_keys[i]);
            s_str(&pk, long_id);
        } else {
            s_str(&pk, "arch");
            s_str(&pk, long_name);
        }
        const char *why = NULL;
        assert_int_equal(s_decode_sb(&sb, &out, &why), -1);
        assert_non_null(strstr(why, "length"));
    }
}

static void test_the_most_values_round_trip_and_one_more_is_refused(void **state)
{
    (void) state;
    char buf[KMS_SAMPLE_MAX_FRAME];
    kms_sample_t s = s_node_sample(), out;
    s.features.count = 0;
    for (int i = 0; i < KMS_SAMPLE_MAX_VALUES; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", i);
        assert_int_equal(kms_values_set(&s.features, name, i), 0);
    }
    assert_int_equal(kms_values_set(&s.features, "one_too_many", 1), -1);
    size_t len = kms_sample_encode(&s, buf, sizeof buf);
    assert_int_equal(kms_sample_decode(buf, len, &out, NULL), 0);
    assert_int_equal(out.features.count, KMS_SAMPLE_MAX_VALUES);

    /* 33 entries, packed by hand */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    kms_sample_t base = s_node_sample();
    base.features.count = 0;
    base.targets.count = 0;
    size_t blen = kms_sample_encode(&base, buf, sizeof buf);
    /* drop the trailing empty targets map and write a long one */
    assert_true((uint8_t) buf[blen - 1] == 0x80);
    msgpack_sbuffer_write(&sb, buf, blen - 1);
    msgpack_pack_map(&pk, KMS_SAMPLE_MAX_VALUES + 1);
    for (int i = 0; i <= KMS_SAMPLE_MAX_VALUES; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        s_str(&pk, name);
        msgpack_pack_double(&pk, 1.0);
    }
    const char *why = NULL;
    assert_int_equal(s_decode_sb(&sb, &out, &why), -1);
    assert_non_null(strstr(why, "too many"));
}

static void s_huge_unknown(msgpack_packer *pk)
{
    static char big[KMS_SAMPLE_MAX_FRAME];
    memset(big, 'z', sizeof big);
    s_str(pk, "padding");
    msgpack_pack_str(pk, sizeof big);
    msgpack_pack_str_body(pk, big, sizeof big);
}

static void test_a_frame_over_the_size_bound_is_refused(void **state)
{
    (void) state;
    msgpack_sbuffer sb;
    s_build(&sb, NULL, NULL, s_huge_unknown, NULL);
    assert_true(sb.size > KMS_SAMPLE_MAX_FRAME);
    kms_sample_t out;
    const char *why = NULL;
    assert_int_equal(s_decode_sb(&sb, &out, &why), -1);
    assert_non_null(strstr(why, "large"));
}

/* Headers that claim far more elements than the frame holds must not make anything allocate. */
static void test_headers_claiming_more_than_the_frame_holds_are_refused(void **state)
{
    (void) state;
    static const uint8_t frames[][12] = {
        {0xdf, 0xff, 0xff, 0xff, 0xff},                  /* map32 of 4G pairs */
        {0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0},            /* array32 */
        {0x81, 0xa1, 'x', 0xdd, 0x7f, 0xff, 0xff, 0xff}, /* nested */
        {0xdb, 0xff, 0xff, 0xff, 0xf0, 'a'},             /* str32 */
        {0xc6, 0x10, 0x00, 0x00, 0x00},                  /* bin32 */
        {0xc9, 0x7f, 0xff, 0xff, 0xff, 0x01},            /* ext32 */
        {0xc1},                                          /* never used */
        {0xde, 0x00, 0x02, 0xa1, 'v', 0x01},             /* map16 of 2 holding 1 */
    };
    static const size_t lens[] = {5, 6, 8, 6, 5, 6, 1, 6};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        kms_sample_t out;
        const char *why = NULL;
        assert_int_equal(kms_sample_decode(frames[i], lens[i], &out, &why), -1);
        assert_non_null(why);
    }
}

static void test_a_frame_that_is_not_a_map_is_refused(void **state)
{
    (void) state;
    static const uint8_t array[] = {0x91, 0x01}, number[] = {0x01}, nil[] = {0xc0};
    kms_sample_t out;
    const char *why = NULL;
    assert_int_equal(kms_sample_decode(array, sizeof array, &out, &why), -1);
    assert_non_null(strstr(why, "not a map"));
    assert_int_equal(kms_sample_decode(number, sizeof number, &out, NULL), -1);
    assert_int_equal(kms_sample_decode(nil, sizeof nil, &out, NULL), -1);
    assert_int_equal(kms_sample_decode(NULL, 0, &out, NULL), -1);
    assert_int_equal(kms_sample_decode("", 0, &out, NULL), -1);
}

/* Random bytes and randomly damaged valid frames: never a crash, never a half-filled sample. */
static void test_random_and_damaged_frames_never_crash_or_half_fill_a_sample(void **state)
{
    (void) state;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    char valid[4096];
    kms_sample_t s = s_container_sample();
    size_t vlen = kms_sample_encode(&s, valid, sizeof valid);
    int accepted = 0;
    for (int round = 0; round < 20000; round++) {
        uint8_t frame[512];
        size_t len;
        if (round % 2) {
            len = vlen;
            memcpy(frame, valid, vlen);
            for (int k = 0; k < 3; k++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                frame[x % vlen] = (uint8_t) (x >> 32);
            }
        } else {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            len = 1 + x % sizeof frame;
            for (size_t k = 0; k < len; k++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                frame[k] = (uint8_t) x;
            }
        }
        kms_sample_t out;
        const char *why = NULL;
        uint8_t *copy = malloc(len);
        memcpy(copy, frame, len);
        int rc = kms_sample_decode(copy, len, &out, &why);
        free(copy);
        if (rc == 0) {
            accepted++;
            assert_true(isfinite(out.ts) && isfinite(out.dt) && out.dt > 0);
            for (size_t k = 0; k < out.features.count; k++)
                assert_true(isfinite(out.features.items[k].value));
            for (size_t k = 0; k < out.targets.count; k++)
                assert_true(isfinite(out.targets.items[k].value));
        } else {
            assert_non_null(why);
            assert_int_equal(out.features.count, 0);
            assert_int_equal(out.node[0], '\0');
        }
    }
    /* some damaged frames only change a value: they must still decode */
    assert_true(accepted > 0);
}

static void test_values_set_replaces_by_name_and_refuses_bad_names(void **state)
{
    (void) state;
    kms_values_t v;
    memset(&v, 0, sizeof v);
    double x = 0;
    assert_false(kms_values_get(&v, "a", &x));
    assert_int_equal(kms_values_set(&v, "a", 1.5), 0);
    assert_int_equal(kms_values_set(&v, "b", 2.5), 0);
    assert_int_equal(kms_values_set(&v, "a", 3.5), 0);
    assert_int_equal(v.count, 2);
    assert_true(kms_values_get(&v, "a", &x) && x == 3.5);
    assert_true(kms_values_get(&v, "b", NULL));
    char name[KMS_NAME_MAX + 1];
    memset(name, 'n', KMS_NAME_MAX);
    name[KMS_NAME_MAX] = '\0';
    assert_int_equal(kms_values_set(&v, name, 1), -1);
    name[KMS_NAME_MAX - 1] = '\0';
    assert_int_equal(kms_values_set(&v, name, 1), 0);
    assert_int_equal(kms_values_set(&v, "", 1), -1);
}

/* Readable numbers that still read back exactly. */
static void test_json_numbers_are_shortest_and_read_back_exactly(void **state)
{
    (void) state;
    kms_sample_t s = s_node_sample();
    kms_values_set(&s.features, KMS_F_CPU_TIME, 0.1);
    char *text = kms_sample_to_json(&s);
    assert_non_null(strstr(text, "\"cpu_time\":0.1,"));
    assert_null(strstr(text, "0.10000"));
    free(text);
    kms_values_set(&s.features, KMS_F_CPU_TIME, 0.1 + 0.2); /* needs all 17 digits */
    kms_values_set(&s.targets, "core", 1.0 / 3.0);
    text = kms_sample_to_json(&s);
    json_t *obj = kms_test_json(text);
    json_t *features = json_object_get(obj, "features");
    assert_true(json_real_value(json_object_get(features, "cpu_time")) == 0.1 + 0.2);
    assert_true(json_real_value(json_object_get(json_object_get(obj, "targets"), "core")) == 1.0 / 3.0);
    assert_true(json_real_value(json_object_get(obj, "ts")) == s.ts);
    json_decref(obj);
    free(text);
}

static void test_json_has_every_field_on_one_line_and_null_for_bad_utf8(void **state)
{
    (void) state;
    kms_sample_t s = s_container_sample();
    char *text = kms_sample_to_json(&s);
    assert_non_null(text);
    assert_null(strchr(text, '\n'));
    json_t *obj = kms_test_json(text);
    assert_string_equal(json_string_value(json_object_get(obj, "topic")), KMS_TOPIC_CONTAINER);
    assert_int_equal(json_integer_value(json_object_get(obj, "v")), 1);
    assert_int_equal(json_integer_value(json_object_get(obj, "seq")), 42);
    assert_true(json_number_value(json_object_get(obj, "ts")) == s.ts);
    assert_true(json_number_value(json_object_get(obj, "dt")) == 5.0);
    assert_string_equal(json_string_value(json_object_get(obj, "node")), "worker-1");
    assert_string_equal(json_string_value(json_object_get(obj, "arch")), "Sapphire Rapids");
    assert_string_equal(json_string_value(json_object_get(obj, "pod")), "nginx-7d9c");
    assert_string_equal(json_string_value(json_object_get(obj, "namespace")), "default");
    assert_string_equal(json_string_value(json_object_get(obj, "container")), "nginx");
    assert_string_equal(json_string_value(json_object_get(obj, "container_id")), "0123456789abcdef");
    json_t *features = json_object_get(obj, "features");
    assert_int_equal(json_object_size(features), 4);
    assert_true(json_number_value(json_object_get(features, "cpu_cycles")) == 2.5e9);
    assert_true(json_number_value(json_object_get(json_object_get(obj, "targets"), "dram")) == 4.25);
    json_decref(obj);
    free(text);

    s = s_node_sample();
    strcpy(s.node, "bad\xff utf8");
    text = kms_sample_to_json(&s);
    obj = kms_test_json(text);
    assert_string_equal(json_string_value(json_object_get(obj, "topic")), KMS_TOPIC_NODE);
    assert_true(json_is_null(json_object_get(obj, "node")));
    assert_null(json_object_get(obj, "pod"));
    json_decref(obj);
    free(text);
}

/* Whether the frame's top-level map has the key `name`, read by msgpack-c itself. */
static bool s_frame_has_key(const char *buf, size_t len, const char *name)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, buf, len, NULL), MSGPACK_UNPACK_SUCCESS);
    bool found = false;
    for (size_t i = 0; i < u.data.via.map.size; i++) {
        const msgpack_object_str *key = &u.data.via.map.ptr[i].key.via.str;
        found |= key->size == strlen(name) && memcmp(key->ptr, name, key->size) == 0;
    }
    msgpack_unpacked_destroy(&u);
    return found;
}

static void test_cpus_round_trip_and_json(void **state)
{
    (void) state;
    kms_sample_t s = s_node_sample();
    s.cpus = 8;
    char buf[KMS_SAMPLE_MAX_FRAME];
    size_t len = kms_sample_encode(&s, buf, sizeof buf);
    assert_true(len > 0);
    assert_true(s_frame_has_key(buf, len, "cpus"));
    kms_sample_t out;
    assert_int_equal(kms_sample_decode(buf, len, &out, NULL), 0);
    assert_int_equal(out.cpus, 8);
    char *text = kms_sample_to_json(&s);
    json_t *obj = json_loads(text, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(obj, "cpus")), 8);
    json_decref(obj);
    free(text);
}

/* 0 means "not stated": no key on the wire or in JSON, and a frame without it reads as 0. */
static void test_cpus_unstated_is_not_encoded(void **state)
{
    (void) state;
    kms_sample_t s = s_node_sample();
    char buf[KMS_SAMPLE_MAX_FRAME];
    size_t len = kms_sample_encode(&s, buf, sizeof buf);
    assert_false(s_frame_has_key(buf, len, "cpus"));
    kms_sample_t out;
    memset(&out, 0xff, sizeof out);
    assert_int_equal(kms_sample_decode(buf, len, &out, NULL), 0);
    assert_int_equal(out.cpus, 0);
    char *text = kms_sample_to_json(&s);
    assert_null(strstr(text, "\"cpus\""));
    free(text);
}

/* clang-format off */
static void s_cpus_zero(msgpack_packer *pk) { s_str(pk, "cpus"); msgpack_pack_uint32(pk, 0); }
static void s_cpus_5000(msgpack_packer *pk) { s_str(pk, "cpus"); msgpack_pack_uint32(pk, 5000); }
/* clang-format on */

static void test_cpus_out_of_range_refused(void **state)
{
    (void) state;
    s_expect_refused(NULL, NULL, s_cpus_zero, NULL, "cpus");
    s_expect_refused(NULL, NULL, s_cpus_5000, NULL, "cpus");
    kms_sample_t s = s_node_sample();
    s.cpus = 5000;
    char buf[KMS_SAMPLE_MAX_FRAME];
    assert_int_equal(kms_sample_encode(&s, buf, sizeof buf), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_and_container_samples_round_trip_exactly_with_their_topic),
        cmocka_unit_test(test_the_wire_keys_are_exactly_the_contracts_in_order),
        cmocka_unit_test(test_encoding_into_too_small_a_buffer_fails_and_an_exact_one_fits),
        cmocka_unit_test(test_encode_refuses_non_finite),
        cmocka_unit_test(test_every_truncation_fails),
        cmocka_unit_test(test_trailing_bytes_rejected),
        cmocka_unit_test(test_each_key_with_a_value_of_the_wrong_type_is_refused),
        cmocka_unit_test(test_integers_and_floats_are_accepted_for_each_other),
        cmocka_unit_test(test_a_value_named_twice_keeps_the_later_one),
        cmocka_unit_test(test_unknown_keys_skipped),
        cmocka_unit_test(test_each_missing_required_key_is_named_and_container_id_is_optional),
        cmocka_unit_test(test_a_version_other_than_1_is_refused),
        cmocka_unit_test(test_the_longest_strings_round_trip_and_one_byte_more_is_refused),
        cmocka_unit_test(test_the_most_values_round_trip_and_one_more_is_refused),
        cmocka_unit_test(test_a_frame_over_the_size_bound_is_refused),
        cmocka_unit_test(test_headers_claiming_more_than_the_frame_holds_are_refused),
        cmocka_unit_test(test_a_frame_that_is_not_a_map_is_refused),
        cmocka_unit_test(test_random_and_damaged_frames_never_crash_or_half_fill_a_sample),
        cmocka_unit_test(test_values_set_replaces_by_name_and_refuses_bad_names),
        cmocka_unit_test(test_json_has_every_field_on_one_line_and_null_for_bad_utf8),
        cmocka_unit_test(test_json_numbers_are_shortest_and_read_back_exactly),
        cmocka_unit_test(test_cpus_round_trip_and_json),
        cmocka_unit_test(test_cpus_unstated_is_not_encoded),
        cmocka_unit_test(test_cpus_out_of_range_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
