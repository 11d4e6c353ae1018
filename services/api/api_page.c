#include "api_page.h"

#include "kms_family.h"
#include "kms_weights.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#define S_CHART_WIDTH 520
#define S_BAR_HEIGHT 18
#define S_BAR_GAP 7
#define S_LABEL_WIDTH 150
#define S_LINE_HEIGHT 170

static const char s_style[] =
    ":root{--bg:#f4f6f9;--card:#fff;--ink:#1d2430;--mute:#5d6878;--line:#dde2ea;--pos:#2f6fde;"
    "--neg:#e0672b;--ok:#1b8a4b;--warn:#b26a00;--r2:#2f6fde;--rmse:#c0392b}"
    "*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--ink);"
    "font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}"
    "header{padding:18px 32px;background:#16202e;color:#fff;display:flex;align-items:baseline;"
    "gap:18px;flex-wrap:wrap}header h1{margin:0;font-size:21px;font-weight:600}"
    "header .sub{color:#b9c3d3;font-size:13px}main{padding:24px 32px;display:grid;"
    "grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:24px}"
    ".card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 22px;"
    "box-shadow:0 1px 3px rgba(20,30,50,.06)}.card h2{margin:0;font-size:18px;display:flex;"
    "align-items:center;gap:10px}.badge{font-size:12px;font-weight:600;padding:2px 9px;border-radius:99px;"
    "letter-spacing:.03em}.ready{background:#e3f4ea;color:var(--ok)}.notready{background:#fff1dc;"
    "color:var(--warn)}.meta{color:var(--mute);font-size:13px;margin:6px 0 12px}"
    ".reason{color:var(--warn);font-size:13px;margin:-6px 0 10px}"
    "table.fit{border-collapse:collapse;font-size:13px;margin-bottom:12px}"
    "table.fit th,table.fit td{padding:3px 14px 3px 0;text-align:right}table.fit th:first-child,"
    "table.fit td:first-child{text-align:left;color:var(--mute);font-weight:500}"
    "h3{font-size:13px;text-transform:uppercase;letter-spacing:.06em;color:var(--mute);margin:14px 0 4px}"
    "svg{display:block;width:100%;max-width:760px;height:auto}svg text{font:12px system-ui,sans-serif;fill:var(--ink)}"
    "svg .muted{fill:var(--mute)}.alert{grid-column:1/-1;background:#fdecea;color:#8a1c10;"
    "border:1px solid #f5c2bb;border-radius:10px;padding:18px 22px;font-size:16px}"
    "footer{padding:0 32px 24px;color:var(--mute);font-size:12px}";

static void s_escape(FILE *out, const char *text)
{
    for (const char *p = text ? text : ""; *p; p++) {
        switch (*p) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*p, out);
        }
    }
}

static double s_num(const json_t *object, const char *key)
{
    const json_t *value = json_object_get(object, key);
    return json_is_number(value) ? json_number_value(value) : NAN;
}

/* A number for people: 4 significant digits, "–" when unknown. */
static void s_human(FILE *out, double value)
{
    if (isfinite(value))
        fprintf(out, "%.4g", value);
    else
        fputs("&#8211;", out);
}

/* "42 s", "7 min", "3.5 h", "12 d": uptime for people. */
static void s_duration(FILE *out, double seconds)
{
    if (!isfinite(seconds) || seconds < 0)
        fputs("&#8211;", out);
    else if (seconds < 120)
        fprintf(out, "%.0f s", seconds);
    else if (seconds < 7200)
        fprintf(out, "%.0f min", seconds / 60);
    else if (seconds < 172800)
        fprintf(out, "%.1f h", seconds / 3600);
    else
        fprintf(out, "%.0f d", seconds / 86400);
}

static void s_clock(double ts, char *out, size_t cap)
{
    time_t t = isfinite(ts) && ts > 0 && ts < 1e15 ? (time_t) ts : 0; /* casting NaN or 1e300: UB */
    struct tm tm;
    if (t == 0 || !gmtime_r(&t, &tm) || !strftime(out, cap, "%H:%M:%S", &tm))
        snprintf(out, cap, "-");
}

/* A chart's <svg> tag, labelled "<label> of <model><tail>". */
static void s_svg(FILE *out, const char *kind, const char *label, const char *tail, const char *model, int height)
{
    fprintf(out, "<svg class=\"chart %s\" data-model=\"", kind);
    s_escape(out, model);
    fprintf(out, "\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"%s of ", S_CHART_WIDTH,
            height, S_CHART_WIDTH, height, label);
    s_escape(out, model);
    fprintf(out, "%s\">", tail);
}

/* A line chart's <svg> tag and its plot's frame. */
static void s_line_chart(FILE *out, const char *kind, const char *label, const char *model)
{
    s_svg(out, kind, label, "", model, S_LINE_HEIGHT);
    fprintf(out, "<rect x=\"46\" y=\"10\" width=\"%d\" height=\"%d\" fill=\"#fafbfd\" stroke=\"#dde2ea\"/>",
            S_CHART_WIDTH - 100, S_LINE_HEIGHT - 36);
}

typedef struct {
    char label[KMS_NAME_MAX + 16];
    double value;
} s_bar_t;

/* Horizontal bars around a zero line: feature weights, architecture weights. */
static void s_weights_chart(FILE *out, const char *model, const json_t *doc)
{
    kms_weights_t w;
    if (kms_weights_from_json(doc, &w) != 0) {
        fputs("<p class=\"meta\">No weights yet.</p>", out);
        return;
    }
    /* The bias (watts at zero usage) dwarfs the per-feature weights (watts per standard
       deviation), so it is written out and the bars compare the features among themselves. */
    fputs("<p class=\"meta\">Bias_Weight, the power at zero usage: <b>", out);
    s_human(out, w.bias);
    fputs(" W</b>; each bar is the watts one standard deviation of that feature adds.</p>", out);
    s_bar_t bars[2 * KMS_SAMPLE_MAX_VALUES];
    size_t n = 0;
    for (size_t i = 0; i < w.numeric_count; i++, n++) {
        snprintf(bars[n].label, sizeof bars[n].label, "%s", w.numeric[i].name);
        bars[n].value = w.numeric[i].weight;
    }
    for (size_t i = 0; i < w.category_count; i++, n++) {
        snprintf(bars[n].label, sizeof bars[n].label, "arch %s", w.category[i].name);
        bars[n].value = w.category[i].weight;
    }
    /* The zero line sits where the largest negative and positive bars both fit. */
    double neg = 0, pos = 0;
    for (size_t i = 0; i < n; i++) {
        neg = fmax(neg, -bars[i].value);
        pos = fmax(pos, bars[i].value);
    }
    if (neg + pos <= 0)
        pos = 1;
    const double left = S_LABEL_WIDTH + (neg > 0 ? 60 : 0), plot = S_CHART_WIDTH - left - 70;
    const double span = neg + pos, zero = left + plot * neg / span;
    int height = (int) n * (S_BAR_HEIGHT + S_BAR_GAP) + 10;
    s_svg(out, "weights", "weights", " in watts", model, height);
    fprintf(out, "<line x1=\"%.1f\" y1=\"0\" x2=\"%.1f\" y2=\"%d\" stroke=\"#9aa5b5\"/>", zero, zero, height);
    for (size_t i = 0; i < n; i++) {
        double len = fabs(bars[i].value) / span * plot;
        double x = bars[i].value < 0 ? zero - len : zero;
        int y = 5 + (int) i * (S_BAR_HEIGHT + S_BAR_GAP);
        fprintf(out, "<text x=\"0\" y=\"%d\">", y + 13);
        s_escape(out, bars[i].label);
        fprintf(out, "</text><rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" rx=\"3\" fill=\"var(--%s)\"/>", x,
                y, fmax(len, 1), S_BAR_HEIGHT, bars[i].value < 0 ? "neg" : "pos");
        fprintf(out, "<text class=\"muted\" x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">",
                bars[i].value < 0 ? x - 4 : x + fmax(len, 1) + 4, y + 13, bars[i].value < 0 ? "end" : "start");
        s_human(out, bars[i].value);
        fputs(" W</text>", out);
    }
    fputs("</svg>", out);
}

/* One polyline of history column `col` scaled into [lo, hi] on the plot. */
static void s_polyline(FILE *out, const json_t *history, int col, double t0, double t1, double lo, double hi,
                       const char *color, const char *dash)
{
    const double left = 46, right = S_CHART_WIDTH - 54, top = 10, bottom = S_LINE_HEIGHT - 26;
    fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" %s points=\"", color, dash);
    size_t i;
    const json_t *point;
    json_array_foreach(history, i, point) {
        if (!json_is_number(json_array_get(point, 0)) || !json_is_number(json_array_get(point, col)))
            continue;
        double t = json_number_value(json_array_get(point, 0)), v = json_number_value(json_array_get(point, col));
        v = fmin(fmax(v, lo), hi);
        double x = t1 > t0 ? left + (t - t0) / (t1 - t0) * (right - left) : right;
        double y = bottom - (v - lo) / (hi - lo) * (bottom - top);
        fprintf(out, "%.1f,%.1f ", x, y);
    }
    fputs("\"/>", out);
}

/* The recent fit over time: R² on the left axis, RMSE (watts) on the right. */
static void s_history_chart(FILE *out, const char *model, const json_t *history)
{
    double t0 = INFINITY, t1 = -INFINITY, r2_lo = 0, rmse_hi = 0;
    size_t points = 0, i;
    const json_t *point;
    json_array_foreach(history, i, point) {
        if (!json_is_array(point) || !json_is_number(json_array_get(point, 0)))
            continue;
        double t = json_number_value(json_array_get(point, 0));
        t0 = fmin(t0, t), t1 = fmax(t1, t);
        if (json_is_number(json_array_get(point, 1)))
            r2_lo = fmin(r2_lo, fmax(json_number_value(json_array_get(point, 1)), -1));
        if (json_is_number(json_array_get(point, 2)))
            rmse_hi = fmax(rmse_hi, json_number_value(json_array_get(point, 2)));
        points++;
    }
    s_line_chart(out, "history", "fit over time", model);
    if (points < 2) {
        fprintf(out, "<text class=\"muted\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">no history yet</text></svg>",
                S_CHART_WIDTH / 2, S_LINE_HEIGHT / 2);
        return;
    }
    if (rmse_hi <= 0)
        rmse_hi = 1;
    const int bottom = S_LINE_HEIGHT - 26;
    char a[16], b[16];
    s_clock(t0, a, sizeof a);
    s_clock(t1, b, sizeof b);
    fprintf(out,
            "<text class=\"muted\" x=\"40\" y=\"16\" text-anchor=\"end\">1</text>"
            "<text class=\"muted\" x=\"40\" y=\"%d\" text-anchor=\"end\">%.2g</text>"
            "<text x=\"40\" y=\"%d\" text-anchor=\"end\" fill=\"var(--r2)\" style=\"fill:var(--r2)\">R²</text>"
            "<text class=\"muted\" x=\"%d\" y=\"16\">%.3g W</text><text class=\"muted\" x=\"%d\" y=\"%d\">0 W</text>"
            "<text x=\"%d\" y=\"%d\" style=\"fill:var(--rmse)\">RMSE</text>"
            "<text class=\"muted\" x=\"46\" y=\"%d\">%s</text>"
            "<text class=\"muted\" x=\"%d\" y=\"%d\" text-anchor=\"end\">%s UTC</text>",
            bottom, r2_lo, (bottom + 10) / 2, S_CHART_WIDTH - 50, rmse_hi, S_CHART_WIDTH - 50, bottom,
            S_CHART_WIDTH - 50, (bottom + 10) / 2, S_LINE_HEIGHT - 8, a, S_CHART_WIDTH - 54, S_LINE_HEIGHT - 8, b);
    s_polyline(out, history, 1, t0, t1, r2_lo, 1, "var(--r2)", "");
    s_polyline(out, history, 2, t0, t1, 0, rmse_hi, "var(--rmse)", "stroke-dasharray=\"5 3\"");
    fputs("</svg>", out);
}

static void s_fit_table(FILE *out, const json_t *fit)
{
    static const char *rows[][3] = {{"R²", "r2", "window_r2"},
                                    {"RMSE (W)", "rmse", "window_rmse"},
                                    {"MAE (W)", "mae", "window_mae"},
                                    {"MAPE", "mape", "window_mape"}};
    fputs("<table class=\"fit\"><tr><th></th><th>overall</th><th>recent</th></tr>", out);
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        fprintf(out, "<tr><td>%s</td><td>", rows[r][0]);
        s_human(out, s_num(fit, rows[r][1]));
        fputs("</td><td>", out);
        s_human(out, s_num(fit, rows[r][2]));
        fputs("</td></tr>", out);
    }
    fputs("</table>", out);
}

/* Each candidate family's curve, watts over the feature from 0 to 1.25 times its scale (the
   largest usage the warm-up saw): the served one solid, the others dashed. */
static void s_families_chart(FILE *out, const char *model, const json_t *families)
{
    enum { STEPS = 40 };
    static const char *const colors[KMS_FAMILY_COUNT] = {"#6b7280", "var(--r2)", "var(--ok)", "var(--neg)"};
    kms_family_fit_t fits[KMS_FAMILY_COUNT];
    bool have[KMS_FAMILY_COUNT] = {0};
    double lo = INFINITY, hi = -INFINITY, x_hi = 0, rmse;
    for (int k = 0; k < KMS_FAMILY_COUNT; k++) {
        have[k] = kms_family_fit_from_json(families, k, &fits[k], &rmse) == 0;
        for (int s = 0; have[k] && s <= STEPS; s++) {
            double v = kms_family_fit_eval(&fits[k], 1.25 * fits[k].scale * s / STEPS);
            lo = isfinite(v) ? fmin(lo, v) : lo;
            hi = isfinite(v) ? fmax(hi, v) : hi;
        }
        x_hi = have[k] ? 1.25 * fits[k].scale : x_hi;
    }
    if (!(hi > lo) || !(x_hi > 0))
        return;
    const double left = 46, right = S_CHART_WIDTH - 54, top = 10, bottom = S_LINE_HEIGHT - 26;
    s_line_chart(out, "families", "families", model);
    fprintf(out,
            "<text class=\"muted\" x=\"40\" y=\"16\" text-anchor=\"end\">%.3g W</text>"
            "<text class=\"muted\" x=\"40\" y=\"%.0f\" text-anchor=\"end\">%.3g W</text>"
            "<text class=\"muted\" x=\"46\" y=\"%d\">0</text>"
            "<text class=\"muted\" x=\"%.0f\" y=\"%d\" text-anchor=\"end\">%.3g</text>",
            hi, bottom, lo, S_LINE_HEIGHT - 8, right, S_LINE_HEIGHT - 8, x_hi);
    const char *served = json_string_value(json_object_get(families, "served"));
    for (int k = 0; k < KMS_FAMILY_COUNT; k++) {
        if (!have[k])
            continue;
        bool solid = served && strcmp(served, kms_family_name(k)) == 0;
        fprintf(out, "<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" %s points=\"",
                kms_family_name(k), colors[k], solid ? "" : "stroke-dasharray=\"5 3\"");
        for (int s = 0; s <= STEPS; s++) {
            double v = kms_family_fit_eval(&fits[k], x_hi * s / STEPS);
            v = isfinite(v) ? fmin(fmax(v, lo), hi) : lo;
            fprintf(out, "%.1f,%.1f ", left + (right - left) * s / STEPS,
                    bottom - (v - lo) / (hi - lo) * (bottom - top));
        }
        fputs("\"/>", out);
    }
    fputs("</svg>", out);
}

/* A one-feature model's candidate families side by side: the served one, and each one's
   recent prequential error over the samples it scored. */
static void s_families_table(FILE *out, const char *model, const json_t *families)
{
    const json_t *candidates = json_object_get(families, "candidates"), *c;
    if (!json_is_array(candidates) || json_array_size(candidates) == 0)
        return;
    fputs("<h3>Families</h3><table class=\"fit families\"><tr><th>family</th><th>recent RMSE (W)</th>"
          "<th>scored</th><th></th></tr>",
          out);
    size_t i;
    json_array_foreach(candidates, i, c) {
        bool served = json_is_true(json_object_get(c, "served"));
        fputs(served ? "<tr class=\"served\"><td><b>" : "<tr><td>", out);
        s_escape(out, json_string_value(json_object_get(c, "family")));
        fputs(served ? "</b></td><td>" : "</td><td>", out);
        s_human(out, s_num(c, "recent_rmse"));
        fputs("</td><td>", out);
        s_human(out, s_num(c, "scored"));
        fprintf(out, "</td><td>%s</td></tr>", served ? "SERVED" : "");
    }
    fputs("</table>", out);
    s_families_chart(out, model, families);
}

static void s_card(FILE *out, const json_t *model)
{
    const char *name = json_string_value(json_object_get(model, "name"));
    bool ready = json_is_true(json_object_get(model, "ready"));
    fputs("<section class=\"card model\" id=\"model-", out);
    s_escape(out, name);
    fputs("\"><h2>", out);
    s_escape(out, name);
    fprintf(out, " <span class=\"badge %s\">%s</span></h2><div class=\"meta\">predicts <b>",
            ready ? "ready" : "notready", ready ? "READY" : "NOT READY");
    s_escape(out, json_string_value(json_object_get(model, "target")));
    fputs("</b> watts from ", out);
    size_t i;
    const json_t *feature;
    json_array_foreach(json_object_get(model, "features"), i, feature) {
        fputs(i ? ", " : "", out);
        s_escape(out, json_string_value(feature));
    }
    fputs(" &middot; ", out);
    s_human(out, s_num(model, "samples"));
    fputs(" samples (needs ", out);
    s_human(out, s_num(model, "min_samples"));
    char when[16];
    s_clock(s_num(model, "updated"), when, sizeof when);
    fprintf(out, ") &middot; updated %s UTC</div>", when);
    const char *reason = json_string_value(json_object_get(model, "reason"));
    if (!ready && reason && *reason) {
        fputs("<div class=\"reason\">", out);
        s_escape(out, reason);
        fputs("</div>", out);
    }
    s_fit_table(out, json_object_get(model, "fit"));
    s_families_table(out, name, json_object_get(model, "families"));
    const json_t *held = json_object_get(model, "held_back");
    bool drift = json_is_true(json_object_get(model, "drift"));
    if (drift || s_num(held, "outlier") > 0 || s_num(held, "drift") > 0) {
        fprintf(out, "<div class=\"%s\">%sheld back: ", drift ? "reason" : "meta",
                drift ? "DRIFT: the recent error is far from the long-run one &middot; " : "");
        s_human(out, s_num(held, "outlier"));
        fputs(" outliers, ", out);
        s_human(out, s_num(held, "drift"));
        fputs(" in a drift</div>", out);
    }
    fputs("<h3>Weights</h3>", out);
    s_weights_chart(out, name, json_object_get(model, "weights"));
    fputs("<h3>Fit over time</h3>", out);
    s_history_chart(out, name, json_object_get(model, "history"));
    fputs("</section>", out);
}

void api_page_write(const json_t *list, const char *trainer, double now, FILE *out)
{
    char clock[16];
    s_clock(now, clock, sizeof clock);
    fprintf(out,
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            "<meta http-equiv=\"refresh\" content=\"%d\"><title>Kepler Model Server</title>"
            "<link rel=\"icon\" href=\"data:,\">"
            "<style>%s</style></head><body><header><h1>Kepler Model Server</h1><span class=\"sub\">",
            API_PAGE_REFRESH, s_style);
    const json_t *stats = json_object_get(list, "trainer");
    if (list) {
        fputs("trainer up ", out);
        s_duration(out, s_num(stats, "uptime"));
        fputs(" &middot; ", out);
        s_human(out, s_num(stats, "samples_received"));
        fputs(" samples received &middot; ", out);
    }
    fprintf(out, "page generated %s UTC, refreshes every %d s</span></header><main>", clock, API_PAGE_REFRESH);
    const json_t *models = json_object_get(list, "models");
    if (!list) {
        fputs("<div class=\"alert\">The trainer at <code>", out);
        s_escape(out, trainer);
        fputs("</code> is not answering. This page will show the models as soon as it does.</div>", out);
    } else if (json_array_size(models) == 0) {
        fputs("<div class=\"alert\">The trainer has no models.</div>", out);
    }
    size_t i;
    const json_t *model;
    json_array_foreach(models, i, model)
        if (json_is_string(json_object_get(model, "name")))
            s_card(out, model);
    fputs("</main><footer>JSON: <a href=\"/models\">/models</a> &middot; "
          "<a href=\"/model-weights/core_model\">/model-weights/core_model</a> &middot; "
          "Prometheus: <a href=\"/metrics\">/metrics</a></footer></body></html>\n",
          out);
}
