#include "api_libdir.h"

#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

void *api_libdir_open(const char *name, int flags, char *why, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(why, cap, "cannot find kms-api's own path");
        return NULL;
    }
    exe[n] = '\0';
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s/%s", dirname(exe), KMS_API_LIBDIR_FROM_BIN, name);
    void *library = dlopen(path, flags);
    if (!library)
        snprintf(why, cap, "%s", dlerror());
    return library;
}
