/*  api_page: GET /, the status page for people. Pure: the trainer's LIST document in, one
    self-contained HTML page out (inline CSS and SVG, no script, no external asset: it works
    offline and under a Content-Security-Policy of default-src 'none').

    Per model: readiness (and why not), target and features, samples, fit (R², RMSE, MAE,
    overall and recent), the bias and the weights as a bar chart (each feature's weight and
    each architecture's, in watts) and the recent fit over time (MODEL.history: R² and
    RMSE) as a line chart. The page reloads itself every API_PAGE_REFRESH seconds. */
#ifndef API_PAGE_H
#define API_PAGE_H

#include <jansson.h>
#include <stdio.h>

#define API_PAGE_REFRESH 10
#define API_PAGE_CSP \
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; " \
    "form-action 'none'; frame-ancestors 'none'"

/* Writes the page. `list` is NULL when the trainer did not answer: the page then says so.
   `trainer` names the trainer's endpoint for that message; `now` is unix seconds. */
void api_page_write(const json_t *list, const char *trainer, double now, FILE *out);

#endif
