#include "kms_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void *kms_file_read_at(int dirfd, const char *name, bool nofollow, size_t max, size_t *len)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (nofollow ? O_NOFOLLOW : 0));
    if (fd < 0)
        return NULL;
    struct stat st;
    char *data = NULL;
    if (fstat(fd, &st) != 0) {
        /* errno set */
    } else if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
    } else if (st.st_size < 0 || (size_t) st.st_size > max) {
        errno = EFBIG;
    } else if ((data = malloc((size_t) st.st_size + 1))) {
        size_t got = 0;
        while (got < (size_t) st.st_size) {
            ssize_t n = read(fd, data + got, (size_t) st.st_size - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t) n;
        }
        data[got] = '\0';
        *len = got;
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return data;
}

void *kms_file_read(const char *path, size_t max, size_t *len)
{
    return kms_file_read_at(AT_FDCWD, path, false, max, len);
}

int kms_file_lock_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int saved = errno == EAGAIN ? EWOULDBLOCK : errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}
