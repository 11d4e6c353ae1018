/*  api_libdir: kms-api's private library folder, lib/kms-api beside the executable's bin/ (in
    the build tree as where it is installed): the TLS names civetweb looks for (api_tls.h) and the
    OTLP exporter (api_export.h), loaded by path, only when configured. */
#ifndef API_LIBDIR_H
#define API_LIBDIR_H

#include <stddef.h>

/* dlopen() of `name` in the private folder with `flags`; NULL with a one-line reason in `why`. */
void *api_libdir_open(const char *name, int flags, char *why, size_t cap);

#endif
