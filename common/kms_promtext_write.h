/*  kms_promtext_write: writing the Prometheus text format 0.0.4, the other way from kms_promtext_read.

        kms_promtext_write_family(out, "kms_x_total", "counter", "Things done.");
        fputs("kms_x_total{target=", out);
        kms_promtext_write_label(out, name);
        fputc('}', out);
        kms_promtext_write_value(out, 42);   ->  kms_x_total{target="a \"b\""} 42  */
#ifndef KMS_PROMTEXT_WRITE_H
#define KMS_PROMTEXT_WRITE_H

#include <stdio.h>

/* The family's # HELP and # TYPE lines. */
void kms_promtext_write_family(FILE *out, const char *name, const char *type, const char *help);

/* A label value, quoted, with \\, \" and \n escaped as the format asks. */
void kms_promtext_write_label(FILE *out, const char *value);

/* " <value>\n", printed as Go's exporters print it; NaN, +Inf and -Inf as the format spells them. */
void kms_promtext_write_value(FILE *out, double value);

#endif
