/*  kms_sample_msgpack: the sample's msgpack wire form. See kms_sample_msgpack.h.

    Encoding writes straight into the caller's buffer through msgpack-c's packer callback.
    Decoding hands the frame to msgpack-c, then walks the resulting object tree with strict type
    checks and copies what it keeps into the fixed-size kms_sample_t. */
#include "kms_sample_msgpack.h"

#include <assert.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A container sample's identity, in the order it is sent. */
static const char *const s_identity_keys[] = {"container_id", "pod", "namespace", "container"};

/* ---------------------------------------------------------------------------------------------
   Encoding */

typedef struct {
    char *buf;
    size_t cap;
    size_t len;
    bool overflow;
} s_writer_t;

/* msgpack-c's packer calls this for every piece; once the buffer is full we only remember it. */
static int s_write(void *data, const char *piece, size_t len)
{
    s_writer_t *w = data;
    if (w->overflow || len > w->cap - w->len) {
        w->overflow = true;
        return -1;
    }
    memcpy(w->buf + w->len, piece, len);
    w->len += len;
    return 0;
}

static void s_pack_str(msgpack_packer *pk, const char *text)
{
    size_t len = strlen(text);
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, text, len);
}

static void s_pack_values(msgpack_packer *pk, const kms_values_t *values)
{
    msgpack_pack_map(pk, values->count);
    for (size_t i = 0; i < values->count; i++) {
        s_pack_str(pk, values->items[i].name);
        msgpack_pack_double(pk, values->items[i].value);
    }
}

static bool s_values_finite(const kms_values_t *values)
{
    for (size_t i = 0; i < values->count; i++)
        if (!isfinite(values->items[i].value))
            return false;
    return true;
}

size_t kms_sample_encode(const kms_sample_t *sample, void *buf, size_t cap)
{
    assert(sample && buf);
    /* A frame that every decoder would reject is not sent at all. */
    if (!isfinite(sample->ts) || !isfinite(sample->dt) || !s_values_finite(&sample->features)
        || !s_values_finite(&sample->targets) || sample->features.count > KMS_SAMPLE_MAX_VALUES
        || sample->targets.count > KMS_SAMPLE_MAX_VALUES || sample->cpus > KMS_SAMPLE_MAX_CPUS)
        return 0;
    s_writer_t w = {buf, cap < KMS_SAMPLE_MAX_FRAME ? cap : KMS_SAMPLE_MAX_FRAME, 0, false};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &w, s_write);
    msgpack_pack_map(&pk, (sample->is_container ? 12 : 8) + (sample->cpus > 0));
    s_pack_str(&pk, "v");
    msgpack_pack_int(&pk, KMS_SAMPLE_VERSION);
    s_pack_str(&pk, "seq");
    msgpack_pack_uint64(&pk, sample->seq);
    s_pack_str(&pk, "ts");
    msgpack_pack_double(&pk, sample->ts);
    s_pack_str(&pk, "dt");
    msgpack_pack_double(&pk, sample->dt);
    s_pack_str(&pk, "node");
    s_pack_str(&pk, sample->node);
    s_pack_str(&pk, "arch");
    s_pack_str(&pk, sample->arch);
    if (sample->cpus > 0) {
        s_pack_str(&pk, "cpus");
        msgpack_pack_uint32(&pk, sample->cpus);
    }
    s_pack_str(&pk, "features");
    s_pack_values(&pk, &sample->features);
    s_pack_str(&pk, "targets");
    s_pack_values(&pk, &sample->targets);
    const char *const identity[] = {sample->container_id, sample->pod, sample->namespace_, sample->container};
    for (size_t i = 0; sample->is_container && i < 4; i++) {
        s_pack_str(&pk, s_identity_keys[i]);
        s_pack_str(&pk, identity[i]);
    }
    return w.overflow ? 0 : w.len;
}

/* ---------------------------------------------------------------------------------------------
   Decoding */

/*  msgpack-c allocates a container's element array as soon as it reads the container's header,
    sized by the count the header claims: a 5-byte frame claiming 2^32 entries would ask for
    ~100 GB (an abort under ASan, a huge lazy mapping otherwise). This walk, done first and
    without allocating, checks that every declared element could fit in the bytes that remain
    (each element takes at least one byte), so that what msgpack-c allocates stays proportional
    to the frame. It reads only headers and skips payloads; it is not a second parser of values. */
static int s_check_sizes(const uint8_t *p, size_t len)
{
    size_t pos = 0;
    size_t pending = 1; /* elements still to read */
    while (pending > 0) {
        if (pos >= len)
            return -1;
        uint8_t b = p[pos++];
        size_t payload = 0, count = 0, width = 0; /* width: bytes of a big-endian length */
        bool counted = false;                     /* the length counts elements, not bytes */
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            /* fixint, nil, bool: no more bytes */
        } else if ((b & 0xf0) == 0x80) {
            count = 2 * (size_t) (b & 0x0f);
        } else if ((b & 0xf0) == 0x90) {
            count = b & 0x0f;
        } else if ((b & 0xe0) == 0xa0) {
            payload = b & 0x1f;
        } else {
            switch (b) {
            /* clang-format off */
            case 0xc4: case 0xd9: width = 1; break;                     /* bin8, str8 */
            case 0xc5: case 0xda: width = 2; break;                     /* bin16, str16 */
            case 0xc6: case 0xdb: width = 4; break;                     /* bin32, str32 */
            case 0xc7: width = 1; payload = 1; break;                   /* ext8: + type byte */
            case 0xc8: width = 2; payload = 1; break;
            case 0xc9: width = 4; payload = 1; break;
            case 0xcc: case 0xd0: payload = 1; break;
            case 0xcd: case 0xd1: payload = 2; break;
            case 0xca: case 0xce: case 0xd2: payload = 4; break;
            case 0xcb: case 0xcf: case 0xd3: payload = 8; break;
            case 0xd4: payload = 2; break;                              /* fixext 1..16 */
            case 0xd5: payload = 3; break;
            case 0xd6: payload = 5; break;
            case 0xd7: payload = 9; break;
            case 0xd8: payload = 17; break;
            case 0xdc: case 0xde: width = 2; counted = true; break;     /* array16, map16 */
            case 0xdd: case 0xdf: width = 4; counted = true; break;     /* array32, map32 */
            default: return -1;                                         /* 0xc1: never used */
                /* clang-format on */
            }
        }
        if (width) {
            if (len - pos < width)
                return -1;
            size_t n = 0;
            for (size_t i = 0; i < width; i++)
                n = (n << 8) | p[pos + i];
            pos += width;
            if (!counted)
                payload += n;
            else
                count = b >= 0xde ? 2 * n : n;
        }
        if (payload > len - pos)
            return -1;
        pos += payload;
        pending--;
        if (count > len - pos)
            return -1;
        pending += count;
        /* every pending element needs a byte: this bounds the walk by the frame's length */
        if (pending > len - pos)
            return -1;
    }
    return pos == len ? 0 : -1;
}

/* Sets the reason a frame is rejected; returns -1. */
static int s_fail(const char **why, const char *reason)
{
    *why = reason;
    return -1;
}

static bool s_key_is(const msgpack_object *key, const char *name)
{
    size_t n = strlen(name);
    return key->type == MSGPACK_OBJECT_STR && key->via.str.size == n && memcmp(key->via.str.ptr, name, n) == 0;
}

/* Numbers are accepted in whichever msgpack form the publisher chose: Python writes 3 for 3.0. */
static int s_get_double(const msgpack_object *o, double *out)
{
    switch (o->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *out = o->via.f64; break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = (double) o->via.u64; break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = (double) o->via.i64; break;
    default: return -1;
    }
    return isfinite(*out) ? 0 : -1;
}

/* Unsigned integers; an integral float in range is taken too (some publishers have no ints). */
static int s_get_uint(const msgpack_object *o, uint64_t *out)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        *out = o->via.u64;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64) {
        double d = o->via.f64;
        if (isfinite(d) && d >= 0 && d <= 9007199254740992.0 && floor(d) == d) {
            *out = (uint64_t) d;
            return 0;
        }
    }
    return -1;
}

static int s_get_str(const msgpack_object *o, char *out, size_t cap)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= cap || memchr(o->via.str.ptr, '\0', o->via.str.size))
        return -1;
    memcpy(out, o->via.str.ptr, o->via.str.size);
    out[o->via.str.size] = '\0';
    return 0;
}

static int s_get_values(const msgpack_object *o, kms_values_t *out, const char **why)
{
    if (o->type != MSGPACK_OBJECT_MAP)
        return s_fail(why, "features/targets is not a map");
    if (o->via.map.size > KMS_SAMPLE_MAX_VALUES)
        return s_fail(why, "too many features/targets");
    out->count = 0;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        char name[KMS_NAME_MAX];
        double value;
        if (s_get_str(&kv->key, name, sizeof name) != 0 || name[0] == '\0')
            return s_fail(why, "feature/target name is not a string of fitting length");
        if (s_get_double(&kv->val, &value) != 0)
            return s_fail(why, "feature/target value is not a finite number");
        kms_values_set(out, name, value); /* a name given twice: the later value replaces the earlier */
    }
    return 0;
}

enum {
    S_V = 1 << 0,
    S_SEQ = 1 << 1,
    S_TS = 1 << 2,
    S_DT = 1 << 3,
    S_NODE = 1 << 4,
    S_ARCH = 1 << 5,
    S_FEATURES = 1 << 6,
    S_TARGETS = 1 << 7,
    S_REQUIRED = (1 << 8) - 1
};

/* Reads one key of the top-level map; unknown keys are skipped. Returns -1 with *why set. */
static int s_decode_key(const msgpack_object_kv *kv, kms_sample_t *out, unsigned *seen, const char **why)
{
    const msgpack_object *key = &kv->key, *val = &kv->val;
    if (s_key_is(key, "v")) {
        uint64_t v;
        if (s_get_uint(val, &v) != 0 || v != KMS_SAMPLE_VERSION)
            return s_fail(why, "unsupported schema version (v)");
        *seen |= S_V;
    } else if (s_key_is(key, "seq")) {
        if (s_get_uint(val, &out->seq) != 0)
            return s_fail(why, "seq is not an unsigned integer");
        *seen |= S_SEQ;
    } else if (s_key_is(key, "ts")) {
        if (s_get_double(val, &out->ts) != 0)
            return s_fail(why, "ts is not a finite number");
        *seen |= S_TS;
    } else if (s_key_is(key, "dt")) {
        if (s_get_double(val, &out->dt) != 0 || out->dt <= 0)
            return s_fail(why, "dt is not a positive finite number");
        *seen |= S_DT;
    } else if (s_key_is(key, "node")) {
        if (s_get_str(val, out->node, sizeof out->node) != 0)
            return s_fail(why, "node is not a string of fitting length");
        *seen |= S_NODE;
    } else if (s_key_is(key, "arch")) {
        if (s_get_str(val, out->arch, sizeof out->arch) != 0)
            return s_fail(why, "arch is not a string of fitting length");
        *seen |= S_ARCH;
    } else if (s_key_is(key, "cpus")) {
        uint64_t cpus;
        if (s_get_uint(val, &cpus) != 0 || cpus < 1 || cpus > KMS_SAMPLE_MAX_CPUS)
            return s_fail(why, "cpus is not a whole number from 1 to 4096");
        out->cpus = (uint32_t) cpus;
    } else if (s_key_is(key, "features")) {
        if (s_get_values(val, &out->features, why) != 0)
            return -1;
        *seen |= S_FEATURES;
    } else if (s_key_is(key, "targets")) {
        if (s_get_values(val, &out->targets, why) != 0)
            return -1;
        *seen |= S_TARGETS;
    } else {
        char *const identity[] = {out->container_id, out->pod, out->namespace_, out->container};
        for (size_t i = 0; i < 4; i++) {
            if (s_key_is(key, s_identity_keys[i])) {
                if (s_get_str(val, identity[i], KMS_ID_MAX) != 0)
                    return s_fail(why, "container identity is not a string of fitting length");
                out->is_container = true;
            }
        }
    }
    return 0;
}

static const char *s_missing(unsigned seen)
{
    static const char *const reasons[] = {"missing key v",        "missing key seq",    "missing key ts",
                                          "missing key dt",       "missing key node",   "missing key arch",
                                          "missing key features", "missing key targets"};
    for (unsigned i = 0; i < 8; i++)
        if (!(seen & (1u << i)))
            return reasons[i];
    return NULL;
}

/* What an empty sample is, without clearing the whole struct (6 KB, most of it unused value
   slots) on every frame. */
static void s_reset(kms_sample_t *out)
{
    out->seq = 0;
    out->ts = out->dt = 0;
    out->node[0] = out->arch[0] = '\0';
    out->cpus = 0;
    out->features.count = out->targets.count = 0;
    out->is_container = false;
    out->container_id[0] = out->pod[0] = out->namespace_[0] = out->container[0] = '\0';
}

int kms_sample_decode(const void *data, size_t len, kms_sample_t *out, const char **why)
{
    assert(out);
    const char *reason_unused;
    if (!why)
        why = &reason_unused;
    s_reset(out);
    if (!data || len == 0)
        return s_fail(why, "empty frame");
    if (len > KMS_SAMPLE_MAX_FRAME)
        return s_fail(why, "frame too large");
    if (s_check_sizes(data, len) != 0)
        return s_fail(why, "not one well-formed msgpack object");
    msgpack_unpacked unpacked;
    msgpack_unpacked_init(&unpacked);
    size_t off = 0;
    int rc = -1;
    msgpack_unpack_return ret = msgpack_unpack_next(&unpacked, data, len, &off);
    if (ret != MSGPACK_UNPACK_SUCCESS || off != len) {
        *why = "not one well-formed msgpack object";
    } else if (unpacked.data.type != MSGPACK_OBJECT_MAP) {
        *why = "frame is not a map";
    } else {
        unsigned seen = 0;
        const msgpack_object_map *map = &unpacked.data.via.map;
        rc = 0;
        for (uint32_t i = 0; i < map->size && rc == 0; i++)
            rc = s_decode_key(&map->ptr[i], out, &seen, why);
        if (rc == 0 && (*why = s_missing(seen)) != NULL)
            rc = -1;
    }
    msgpack_unpacked_destroy(&unpacked);
    if (rc != 0)
        s_reset(out);
    return rc;
}
