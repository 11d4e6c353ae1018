#include "kms_promtext_write.h"

#include "kms_num.h"

void kms_promtext_write_family(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void kms_promtext_write_label(FILE *out, const char *value)
{
    fputc('"', out);
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '"')
            fputc('\\', out);
        if (*p == '\n')
            fputs("\\n", out);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

void kms_promtext_write_value(FILE *out, double value)
{
    char text[40];
    kms_num_format_go(value, text, sizeof text);
    fprintf(out, " %s\n", text);
}
