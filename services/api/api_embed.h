/*  api_embed: bytes carried inside the kms-api binary (shared libraries built with it), and
    in-memory files to hand them, or a TLS key, to code that wants a path.

    Nothing is written to disk: a container's root filesystem may well be read-only, and a
    private key has no business on one. A memory file is a memfd, reachable by its
    /proc/self/fd/N path while its descriptor is open. */
#ifndef API_EMBED_H
#define API_EMBED_H

#include <stddef.h>

/* Places the file at `path` (known at build time) in .rodata between name_start and name_end. */
#define API_EMBED(name, path)                                                                    \
    __asm__(".pushsection .rodata\n.balign 64\n" #name "_start:\n.incbin \"" path "\"\n" #name \
            "_end:\n.popsection\n");                                                              \
    extern const char name##_start[], name##_end[]

/* A memory file holding `len` bytes of `data`: its descriptor (close-on-exec), its path in
   `path` (at least 32 bytes); -1 with a static reason in *why. */
int api_embed_memfd(const char *label, const void *data, size_t len, char *path, size_t cap, const char **why);

/* dlopen() of the embedded bytes [start, end) with `flags`; NULL with the reason in *why. The
   library stays mapped after its memory file is closed. */
void *api_embed_dlopen(const char *label, const char *start, const char *end, int flags, const char **why);

#endif
