/*  The stack of civetweb's threads. Debian's civetweb 1.15 is built to give each of them
    100 KB (USE_STACK_SIZE, fixed when the library is built; no option changes it), which one
    deep JSON document or a sanitized build's larger frames use up. This definition comes
    before libc's for every caller in kms-api, civetweb included (its threads are the only
    ones that ask for a size: czmq's and libzmq's keep the default), and raises a smaller
    request to API_STACK_MIN. Stack pages are reserved, not resident, until a thread uses them. */
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

#define API_STACK_MIN (1024 * 1024)

typedef int(s_setstacksize_fn)(pthread_attr_t *, size_t);

int pthread_attr_setstacksize(pthread_attr_t *attr, size_t size)
{
    static s_setstacksize_fn *next;
    s_setstacksize_fn *fn = __atomic_load_n(&next, __ATOMIC_ACQUIRE);
    if (!fn) {
        fn = (s_setstacksize_fn *) dlsym(RTLD_NEXT, "pthread_attr_setstacksize");
        if (!fn)
            return 22; /* EINVAL: no libc below us, which cannot be */
        __atomic_store_n(&next, fn, __ATOMIC_RELEASE);
    }
    return fn(attr, size < API_STACK_MIN ? API_STACK_MIN : size);
}
