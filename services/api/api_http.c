#include "api_http.h"

#include "api_body.h"
#include "api_guard.h"
#include "api_kepler.h"
#include "api_metrics.h"
#include "api_page.h"
#include "kms_json.h"
#include "kms_httpd.h"
#include "kms_log.h"
#include "kms_num.h"
#include "kms_proto.h"

#include <arpa/inet.h>
#include <assert.h>
#include <civetweb.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_DEFAULT_MODEL "core_model"
#define S_RETRY_AFTER "Retry-After: 5\r\n" /* the scraper's default interval: a sample or so later */

struct api_http_t {
    struct mg_context *ctx;
    api_http_config_t config;
    api_trainer_t *trainer;
    api_stats_t *stats;
    api_http_metrics_fn *hook;
    void *hook_arg;
    api_guard_t *guard;
};

/* The connection this worker serves: civetweb gives a connection to one worker at a time, and
   calls init_connection, then begin_request or http_error per request, then connection_close,
   all on that worker. */
static __thread struct {
    bool open;     /* between init_connection and connection_close */
    bool counted;  /* admitted by the guard (at its first request): released at close */
    bool answered; /* civetweb answered the last request itself (http_error) */
} s_connection;

/* One request being answered. */
typedef struct {
    struct mg_connection *conn;
    const struct mg_request_info *info;
    api_http_t *server;
    double start;    /* when its headers were in */
    double deadline; /* for all of this request's trainer calls */
    bool must_close; /* a body was left unread: the connection cannot be reused */
} s_request_t;

/* Mirrors civetweb's own decision, so the header we write matches what it does next. */
static bool s_keep_alive(const s_request_t *r)
{
    if (r->must_close || !r->info)
        return false;
    const char *header = mg_get_header(r->conn, "Connection");
    if (header) {
        char copy[256], *save = NULL;
        snprintf(copy, sizeof copy, "%s", header);
        for (char *token = strtok_r(copy, ", \t", &save); token; token = strtok_r(NULL, ", \t", &save))
            if (strcasecmp(token, "keep-alive") == 0)
                return true;
        return false;
    }
    return r->info->http_version && strcmp(r->info->http_version, "1.1") == 0;
}

static int s_send(s_request_t *r, int status, const char *type, const char *headers, const void *body, size_t len)
{
    bool keep = s_keep_alive(r);
    if (!keep)
        mg_disable_connection_keep_alive(r->conn);
    return kms_httpd_reply(r->conn, status, type, headers, keep, body, len);
}

static int s_json(s_request_t *r, int status, const char *headers, const json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    if (!text)
        return s_send(r, 500, "application/json", NULL, "{\"error\":\"out of memory\"}", 25);
    s_send(r, status, "application/json", headers, text, strlen(text));
    free(text);
    return status;
}

static int s_error(s_request_t *r, int status, const char *headers, const char *message)
{
    json_t *doc = json_pack("{s:s}", "error", message);
    s_json(r, status, headers, doc);
    json_decref(doc);
    return status;
}

static int s_unreachable(s_request_t *r)
{
    char why[256];
    snprintf(why, sizeof why, "the trainer (%s) did not answer within %ld ms", r->server->config.trainer,
             r->server->config.timeout_ms);
    return s_error(r, 503, S_RETRY_AFTER, why);
}

/* An answer that is not a 200: the trainer's own error document when it sent one. */
static int s_trainer_error(s_request_t *r, const api_reply_t *reply)
{
    if (reply->status == API_TRAINER_UNREACHABLE)
        return s_unreachable(r);
    if (reply->status == API_TRAINER_MALFORMED)
        return s_error(r, 502, NULL, "the trainer sent a malformed reply");
    json_t *doc = kms_json_loadb(reply->body, reply->len, 0, KMS_JSON_MAX_DEPTH, NULL);
    if (!json_is_string(json_object_get(doc, "error"))) {
        json_decref(doc);
        doc = json_pack("{s:s}", "error", reply->status == 404 ? "unknown model" : "the trainer refused the request");
    }
    s_json(r, reply->status, reply->status == 503 ? S_RETRY_AFTER : NULL, doc);
    json_decref(doc);
    return reply->status;
}

static int s_call(s_request_t *r, const char *command, const char *arg, api_reply_t *reply)
{
    return api_trainer_call(r->server->trainer, command, arg, r->deadline, reply);
}

static json_t *s_list(s_request_t *r, int *status)
{
    return api_trainer_list(r->server->trainer, r->deadline, status);
}

/* The model's weights JSON, or its zip as an attachment, passed on as the trainer sent it. */
static int s_model_file(s_request_t *r, const char *model, bool zip)
{
    char headers[160] = "";
    if (zip)
        snprintf(headers, sizeof headers, "Content-Disposition: attachment; filename=\"%s.zip\"\r\n", model);
    api_reply_t reply;
    int status = s_call(r, zip ? KMS_PROTO_ZIP : KMS_PROTO_WEIGHTS, model, &reply) == 200
                     ? s_send(r, 200, zip ? "application/zip" : "application/json", headers, reply.body, reply.len)
                     : s_trainer_error(r, &reply);
    api_reply_clear(&reply);
    return status;
}

static int s_models(s_request_t *r)
{
    int status;
    json_t *list = s_list(r, &status);
    if (!list)
        return s_trainer_error(r, &(api_reply_t){.status = status});
    json_t *models = json_object_get(list, "models");
    json_t *none = json_is_array(models) ? NULL : json_array();
    status = s_json(r, 200, NULL, none ? none : models);
    json_decref(none);
    json_decref(list);
    return status;
}

static int s_readyz(s_request_t *r)
{
    api_reply_t reply;
    int status = s_call(r, KMS_PROTO_PING, NULL, &reply);
    api_reply_clear(&reply);
    return status == 200 ? s_send(r, 200, "application/json", NULL, "{\"status\":\"ready\"}", 18) : s_unreachable(r);
}

/* GET / (the page) or GET /metrics: the trainer's LIST rendered through a memory stream; 500
   when memory runs out. Prometheus must still get the API's own counters (and
   kms_api_trainer_up 0) when the trainer is away, so /metrics answers 200 regardless. */
static int s_render(s_request_t *r, bool page)
{
    static const char page_headers[] = "Content-Security-Policy: " API_PAGE_CSP "\r\n"
                                       "X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n";
    int status;
    json_t *list = s_list(r, &status);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (out && page) {
        api_page_write(list, r->server->config.trainer, kms_num_wallclock(), out);
    } else if (out) {
        api_metrics_write(list, out);
        api_stats_write(r->server->stats, out);
        api_guard_write(r->server->guard, out);
        api_http_metrics_fn *hook = __atomic_load_n(&r->server->hook, __ATOMIC_ACQUIRE);
        if (hook)
            hook(__atomic_load_n(&r->server->hook_arg, __ATOMIC_ACQUIRE), out);
    }
    bool failed = !out || ferror(out) != 0;
    if (out)
        fclose(out);
    if (failed)
        status = s_error(r, 500, NULL, "out of memory");
    else if (page)
        status = s_send(r, list ? 200 : 503, "text/html; charset=utf-8", page_headers, text, len);
    else
        s_send(r, 200, API_METRICS_CONTENT_TYPE, NULL, text, len);
    json_decref(list);
    free(text);
    return page ? status : 200;
}

/* Reads the body of POST /model into *out (NUL-terminated). 0, or the status to answer. */
static int s_read_body(s_request_t *r, char **out, size_t *len)
{
    long long declared = r->info->content_length;
    *out = NULL;
    *len = 0;
    if (declared > API_HTTP_MAX_BODY) {
        r->must_close = true;
        return 413;
    }
    const char *expect = mg_get_header(r->conn, "Expect");
    if (expect && strcasecmp(expect, "100-continue") == 0)
        mg_write(r->conn, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    char *buf = malloc(API_HTTP_MAX_BODY + 2);
    if (!buf)
        return 500;
    /* The body has as long as the headers had; mg_read itself would wait for every byte. */
    int watch = api_guard_watch(r->server->guard, r->info->remote_addr, r->info->remote_port, r->info->server_port,
                                r->start + r->server->config.request_timeout_ms / 1000.0);
    size_t got = 0;
    int n;
    while (got <= API_HTTP_MAX_BODY && (n = mg_read(r->conn, buf + got, API_HTTP_MAX_BODY + 1 - got)) > 0)
        got += (size_t) n;
    bool cut = api_guard_unwatch(r->server->guard, watch);
    if (cut || got > API_HTTP_MAX_BODY || (declared >= 0 && got != (size_t) declared)) {
        r->must_close = true;
        free(buf);
        return cut ? 408 : got > API_HTTP_MAX_BODY ? 413 : 400;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

/* Kepler's request, read: answered from the trainer's LIST (POST /model, GET /kepler/init/). */
static int s_kepler_answer(s_request_t *r, const api_kepler_request_t *req)
{
    int status;
    json_t *list = s_list(r, &status);
    if (!list)
        return s_trainer_error(r, &(api_reply_t){.status = status});
    char why[1024], archive[KMS_NAME_MAX];
    json_t *answer = api_kepler_answer(json_object_get(list, "models"), req, archive, &status, why, sizeof why);
    json_decref(list);
    if (answer) {
        status = s_json(r, 200, NULL, answer);
        json_decref(answer);
        return status;
    }
    if (archive[0])
        return s_model_file(r, archive, true);
    kms_info("no model for Kepler's request", "output_type=%s kepler=%s status=%d why=%s", req->output_type,
             api_kepler_era_name(req->era), status, kms_log_quote(why, (char[256]){0}, 256));
    return s_error(r, status, status == 503 ? S_RETRY_AFTER : NULL, why);
}

static int s_kepler(s_request_t *r)
{
    char *body;
    size_t len;
    int status = s_read_body(r, &body, &len);
    if (status)
        return s_error(r, status, NULL,
                       status == 413   ? "the request body is too large"
                       : status == 408 ? "the request body did not arrive in time"
                                       : "the request body could not be read");
    char why[512];
    api_kepler_request_t req;
    status = api_body_kepler(body, len, &r->server->config.kepler, &req, why, sizeof why);
    free(body);
    if (status != 0)
        return s_error(r, 400, NULL, why);
    return s_kepler_answer(r, &req);
}

/* GET /kepler/init/<source>[?kepler=<release>]: Kepler's default request for that source,
   answered as POST /model would; 404 when no model suits, so that Kepler falls back. */
static int s_kepler_init(s_request_t *r, const char *source)
{
    api_kepler_config_t config = r->server->config.kepler;
    char release[32] = "";
    const char *query = r->info->query_string;
    if (query && mg_get_var(query, strlen(query), "kepler", release, sizeof release) > 0) {
        config.era = api_kepler_era_parse(release);
        if (config.era < API_KEPLER_0_4 || config.era >= API_KEPLER_ERAS)
            return s_error(r, 400, NULL, "kepler= names a Kepler release from 0.4 to 0.9, like 0.7.12");
    } else if (config.era == API_KEPLER_ERA_AUTO) {
        config.era = API_KEPLER_0_7_12;
    }
    char why[512];
    api_kepler_request_t req;
    if (api_kepler_init_request(source, &config, &req, why, sizeof why) != 0)
        return s_error(r, 400, NULL, why);
    return s_kepler_answer(r, &req);
}

typedef struct {
    api_route_t route;
    const char *method; /* the one method the route takes */
    char model[KMS_NAME_MAX];
    bool bad_name;
} s_target_t;

/* A model name as the trainer spells them: letters, digits, '_', '-', '.', not "." or "..". */
static bool s_valid_name(const char *name)
{
    size_t len = strlen(name);
    return len > 0 && len < KMS_NAME_MAX && strcmp(name, ".") != 0 && strcmp(name, "..") != 0
           && strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == len;
}

static void s_resolve(const char *path, s_target_t *t)
{
    /* A route with `model` takes the rest of the path as the model's name ("" = the default). */
    /* clang-format off */
    static const struct {
        const char *path;
        api_route_t route;
        const char *method;
        bool model;
    } routes[] = {{"/", API_ROUTE_INDEX, "GET", false},          {"/healthz", API_ROUTE_HEALTHZ, "GET", false},
                  {"/readyz", API_ROUTE_READYZ, "GET", false},   {"/metrics", API_ROUTE_METRICS, "GET", false},
                  {"/models", API_ROUTE_MODELS, "GET", false},   {"/model", API_ROUTE_KEPLER, "POST", false},
                  {"/model-weights", API_ROUTE_WEIGHTS, "GET", false},
                  {"/models/", API_ROUTE_ZIP, "GET", true},      {"/model-weights/", API_ROUTE_WEIGHTS, "GET", true},
                  {"/kepler/init/", API_ROUTE_KEPLER_INIT, "GET", true}};
    /* clang-format on */
    *t = (s_target_t){.route = API_ROUTE_OTHER, .method = "GET"};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        size_t n = strlen(routes[i].path);
        if (routes[i].model ? strncmp(path, routes[i].path, n) != 0 : strcmp(path, routes[i].path) != 0)
            continue;
        t->route = routes[i].route;
        t->method = routes[i].method;
        const char *name = routes[i].model && path[n] ? path + n : S_DEFAULT_MODEL;
        t->bad_name = !s_valid_name(name);
        if (!t->bad_name)
            snprintf(t->model, sizeof t->model, "%s", name);
        return;
    }
}

static bool s_has_body(const s_request_t *r)
{
    return r->info->content_length > 0 || (r->info->content_length < 0 && mg_get_header(r->conn, "Transfer-Encoding"));
}

static int s_dispatch(s_request_t *r, const s_target_t *t)
{
    const char *method = r->info->request_method;
    bool has_body = s_has_body(r);
    if (strcmp(method, t->method) != 0) {
        if (has_body)
            r->must_close = true;
        char allow[32];
        snprintf(allow, sizeof allow, "Allow: %s\r\n", t->method);
        return s_error(r, 405, allow, "method not allowed");
    }
    if (t->route == API_ROUTE_OTHER)
        return s_error(r, 404, NULL, "no such route");
    if (has_body && t->route != API_ROUTE_KEPLER) {
        r->must_close = true;
        return s_error(r, 413, NULL, "request bodies are only accepted by POST /model");
    }
    if (t->bad_name)
        return s_error(r, 400, NULL, "malformed model name");
    switch (t->route) {
    case API_ROUTE_INDEX: return s_render(r, true);
    case API_ROUTE_HEALTHZ: return s_send(r, 200, "application/json", NULL, "{\"status\":\"ok\"}", 15);
    case API_ROUTE_READYZ: return s_readyz(r);
    case API_ROUTE_METRICS: return s_render(r, false);
    case API_ROUTE_MODELS: return s_models(r);
    case API_ROUTE_ZIP: return s_model_file(r, t->model, true);
    case API_ROUTE_WEIGHTS: return s_model_file(r, t->model, false);
    case API_ROUTE_KEPLER: return s_kepler(r);
    case API_ROUTE_KEPLER_INIT: return s_kepler_init(r, t->model);
    default: return s_error(r, 404, NULL, "no such route");
    }
}

/* Percent-decodes the path (civetweb runs with decode_url=no so that we see the raw one).
   -1 for a malformed escape or an encoded NUL, which no route can contain. */
static int s_decode_path(const char *raw, char *out, size_t cap)
{
    for (const char *p = raw; *p; p++)
        if (*p == '%' && !(isxdigit((unsigned char) p[1]) && isxdigit((unsigned char) p[2])))
            return -1;
    size_t len = strlen(raw);
    if (len >= cap)
        return -1;
    int n = mg_url_decode(raw, (int) len, out, (int) cap, 0);
    return n < 0 || strlen(out) != (size_t) n ? -1 : 0;
}

/* What makes a request's framing ambiguous (RFC 9112 6.3, 3.2): a front end and kms-api could
   disagree on where it ends, and what follows would be read as a second request. NULL when
   the request is framed one way only and names a path (origin-form). */
static const char *s_framing_error(const struct mg_request_info *info)
{
    int lengths = 0, encodings = 0;
    for (int i = 0; i < info->num_headers; i++) {
        lengths += strcasecmp(info->http_headers[i].name, "Content-Length") == 0;
        encodings += strcasecmp(info->http_headers[i].name, "Transfer-Encoding") == 0;
    }
    if (lengths > 1)
        return "more than one Content-Length";
    if (lengths && encodings)
        return "Content-Length together with Transfer-Encoding";
    if (encodings > 1)
        return "more than one Transfer-Encoding";
    if (!info->request_uri || info->request_uri[0] != '/')
        return "the request target must be a path";
    return NULL;
}

static int s_begin_request(struct mg_connection *conn)
{
    api_http_t *self = mg_get_user_data(mg_get_context(conn));
    double start = kms_num_monotonic();
    s_request_t r = {conn, mg_get_request_info(conn), self, start, start + self->config.timeout_ms / 1000.0, false};
    s_target_t target = {.route = API_ROUTE_OTHER};
    /* local_uri_raw is not normalized, so "/models/../x" stays visible and is refused; it is
       NULL for an absolute URI naming another host. */
    const char *raw = r.info->local_uri_raw;
    const char *framing = s_framing_error(r.info);
    char path[1024];
    int status;
    s_connection.answered = false;
    /* An address past its share of connections gets each one answered once, then closed; a
       body is refused outright, since reading it could hold the worker for its whole deadline. */
    bool over_share = !s_connection.counted
                      && !(s_connection.counted = api_guard_admit(self->guard, r.info->remote_addr));
    if (over_share)
        r.must_close = true;
    if (over_share && s_has_body(&r)) {
        status = s_error(&r, 503, "Retry-After: 1\r\n", "too many connections from this address");
    } else if (framing) {
        r.must_close = true;
        status = s_error(&r, 400, NULL, framing);
    } else if (!raw || s_decode_path(raw, path, sizeof path) != 0) {
        status = s_error(&r, 400, NULL, "malformed request target");
    } else {
        s_resolve(path, &target);
        status = s_dispatch(&r, &target);
    }
    api_stats_request(self->stats, target.route, status);
    if (kms_log_threshold <= KMS_LOG_DEBUG) {
        char quoted[256];
        kms_debug("request", "method=%s path=%s status=%d ms=%.3f", r.info->request_method,
                  kms_log_quote(raw ? raw : "-", quoted, sizeof quoted), status, (kms_num_monotonic() - start) * 1000);
    }
    return status;
}

/* An HTTP method token (RFC 9110: letters here) that civetweb does not know, like TRACE. */
static bool s_method_token(const char *method)
{
    size_t len = method ? strlen(method) : 0;
    return len > 0 && len <= 16 && strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == len;
}

/* civetweb's own rejections (a malformed request line, headers over max_request_size, ...)
   come here: answered as JSON like every other error, and counted. */
static int s_http_error(struct mg_connection *conn, int status, const char *message)
{
    api_http_t *self = mg_get_user_data(mg_get_context(conn));
    s_request_t r = {conn, mg_get_request_info(conn), self, 0, 0, true};
    s_connection.answered = true;
    char quoted[160];
    kms_debug("request rejected by civetweb", "status=%d why=%s", status,
              kms_log_quote(message ? message : "", quoted, sizeof quoted));
    /* civetweb refuses methods it does not know with 400; for a well-formed method name the
       truthful answer is 405, as for every method but GET and POST here. */
    if (status == 400 && r.info && s_method_token(r.info->request_method) && strcmp(r.info->request_method, "GET") != 0
        && strcmp(r.info->request_method, "POST") != 0)
        s_error(&r, status = 405, "Allow: GET, POST\r\n", "method not allowed");
    else if (status == 505) /* "HTTP/9.9": the client's mistake, answered as one */
        s_error(&r, status = 400, NULL, "unsupported HTTP version");
    else
        s_error(&r, status, NULL, message && *message ? message : "bad request");
    api_stats_request(self->stats, API_ROUTE_OTHER, status);
    return 0;
}

static int s_init_connection(const struct mg_connection *conn, void **data)
{
    (void) conn;
    (void) data;
    s_connection.open = true;
    s_connection.counted = s_connection.answered = false;
    return 0;
}

/* civetweb closes a request for "*" or for another host (absolute-form) without a word and
   without calling begin_request; it gets its 400 here, the connection's last chance. */
static void s_connection_close(const struct mg_connection *conn)
{
    api_http_t *self = mg_get_user_data(mg_get_context(conn));
    const struct mg_request_info *info = mg_get_request_info(conn);
    bool open = s_connection.open, counted = s_connection.counted;
    s_connection.open = s_connection.counted = false;
    if (!open || !info)
        return; /* a TLS handshake that failed: no request, nothing counted */
    if (counted)
        api_guard_release(self->guard, info->remote_addr);
    if (s_connection.answered || !info->request_method || info->local_uri)
        return;
    /* civetweb hands callbacks a const connection; writing the answer is what it would do. */
    s_request_t r = {(struct mg_connection *) conn, info, self, 0, 0, true};
    const char *why = s_framing_error(info);
    s_error(&r, 400, NULL, why ? why : "bad request");
    api_stats_request(self->stats, API_ROUTE_OTHER, 400);
}

static int s_log_message(const struct mg_connection *conn, const char *message)
{
    (void) conn;
    char quoted[256];
    kms_debug("civetweb", "message=%s", kms_log_quote(message, quoted, sizeof quoted));
    return 1;
}

/* civetweb's own grammar, checked as civetweb reads it: no blanks and no empty entries, which
   kms_config_split would forgive and civetweb would not. */
int api_http_acl_check(const char *acl, char *why, size_t cap)
{
    char copy[1024];
    if (!acl || !*acl || snprintf(copy, sizeof copy, "%s", acl) >= (int) sizeof copy || acl[strlen(acl) - 1] == ',')
        goto bad;
    char *save = NULL;
    for (char *entry = strtok_r(copy, ",", &save); entry; entry = strtok_r(NULL, ",", &save)) {
        if (*entry != '+' && *entry != '-')
            goto bad;
        char *slash = strchr(++entry, '/');
        long bits = 32;
        if (slash) {
            *slash = '\0';
            if (kms_num_parse_long(slash + 1, &bits) != 0 || bits < 0 || bits > 32)
                goto bad;
        }
        struct in_addr address;
        if (inet_pton(AF_INET, entry, &address) != 1)
            goto bad;
    }
    return 0;
bad:
    snprintf(why, cap, "expected [+|-]IPv4[/bits],...");
    return -1;
}

/* No ssl_certificate option: the certificate and the key go to OpenSSL from their own files. */
static int s_init_ssl(void *ssl_ctx, void *user_data)
{
    api_http_t *self = user_data;
    return api_tls_init_ssl(self->config.tls, ssl_ctx);
}

api_http_t *api_http_start(const api_http_config_t *config, api_trainer_t *trainer, api_stats_t *stats)
{
    assert(config && trainer && stats);
    api_http_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->config = *config;
    self->trainer = trainer;
    self->stats = stats;
    if (!(self->guard = api_guard_new(config->per_client, config->threads))) {
        free(self);
        return NULL;
    }
    char port[64], threads[16], request_timeout[24];
    snprintf(port, sizeof port, "%s:%ld%s", config->listen, config->port, config->tls ? "s" : "");
    snprintf(threads, sizeof threads, "%ld", config->threads);
    snprintf(request_timeout, sizeof request_timeout, "%ld", config->request_timeout_ms);
    /* No document_root: civetweb serves no file, ever. The keep-alive timeout bounds how long
       an idle client holds a worker; the request timeout how long a slow one does. */
    /* clang-format off */
    const char *options[32] = {"listening_ports", port, "num_threads", threads,
                               "request_timeout_ms", request_timeout, "keep_alive_timeout_ms", "2000",
                               "enable_keep_alive", "yes", "tcp_nodelay", "1",
                               "max_request_size", "16384", "decode_url", "no", "listen_backlog", "512",
                               "connection_queue", "512", NULL};
    /* clang-format on */
    size_t n = 0;
    while (options[n])
        n++;
    if (config->acl && *config->acl) {
        options[n++] = "access_control_list";
        options[n++] = config->acl;
    }
    if (config->tls) {
        options[n++] = "ssl_protocol_version";
        options[n++] = "4"; /* TLS 1.2 and later */
    }
    struct mg_callbacks callbacks = {.begin_request = s_begin_request,
                                     .http_error = s_http_error,
                                     .log_message = s_log_message,
                                     .init_connection = s_init_connection,
                                     .connection_close = s_connection_close,
                                     .init_ssl = config->tls ? s_init_ssl : NULL};
    char text[256] = "";
    unsigned code = 0;
    struct mg_init_data init = {&callbacks, self, options};
    struct mg_error_data error = {&code, text, sizeof text};
    self->ctx = mg_start2(&init, &error);
    if (!self->ctx) {
        char quoted[300];
        kms_error("cannot start the HTTP server", "address=%s port=%ld why=%s", config->listen, config->port,
                  kms_log_quote(text, quoted, sizeof quoted));
        api_guard_destroy(&self->guard);
        free(self);
        return NULL;
    }
    return self;
}

int api_http_port(const api_http_t *self)
{
    struct mg_server_port ports[1];
    return mg_get_server_ports(self->ctx, 1, ports) == 1 ? ports[0].port : (int) self->config.port;
}

void api_http_set_metrics_hook(api_http_t *self, api_http_metrics_fn *fn, void *arg)
{
    /* Workers read the pair while this runs: the argument is published before the function. */
    __atomic_store_n(&self->hook_arg, arg, __ATOMIC_RELEASE);
    __atomic_store_n(&self->hook, fn, __ATOMIC_RELEASE);
}

void api_http_stop(api_http_t **self_p)
{
    assert(self_p);
    api_http_t *self = *self_p;
    if (!self)
        return;
    mg_stop(self->ctx);
    api_guard_destroy(&self->guard);
    free(self);
    *self_p = NULL;
}
