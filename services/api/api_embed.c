#include "api_embed.h"

#include <dlfcn.h>
#include <linux/memfd.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int api_embed_memfd(const char *label, const void *data, size_t len, char *path, size_t cap, const char **why)
{
    int fd = (int) syscall(SYS_memfd_create, label, MFD_CLOEXEC);
    if (fd < 0) {
        *why = "memfd_create failed";
        return -1;
    }
    for (size_t done = 0; done < len;) {
        ssize_t n = write(fd, (const char *) data + done, len - done);
        if (n <= 0) {
            close(fd);
            *why = "cannot write a memory file";
            return -1;
        }
        done += (size_t) n;
    }
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return fd;
}

void *api_embed_dlopen(const char *label, const char *start, const char *end, int flags, const char **why)
{
    char path[32];
    int fd = api_embed_memfd(label, start, (size_t) (end - start), path, sizeof path, why);
    if (fd < 0)
        return NULL;
    void *library = dlopen(path, flags);
    if (!library)
        *why = dlerror();
    close(fd); /* the mapping keeps the file alive */
    return library;
}
