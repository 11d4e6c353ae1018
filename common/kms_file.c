#include "kms_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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

static int s_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

int kms_file_replace_at(int dirfd, const char *name, const void *data, size_t len, bool durable)
{
    char tmp[256];
    if (snprintf(tmp, sizeof tmp, ".%s.tmp", name) >= (int) sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = openat(dirfd, tmp, flags, 0644);
    if (fd < 0 && errno == EEXIST && unlinkat(dirfd, tmp, 0) == 0)
        fd = openat(dirfd, tmp, flags, 0644);
    if (fd < 0)
        return -1;
    int rc = s_write_all(fd, data, len);
    if (rc == 0 && durable)
        rc = fsync(fd);
    if (close(fd) != 0)
        rc = -1;
    if (rc == 0)
        rc = renameat(dirfd, tmp, dirfd, name);
    /* The rename is in the folder's data: without this a power cut may undo it. */
    if (rc == 0 && durable)
        rc = fsync(dirfd);
    if (rc != 0) {
        int saved = errno;
        unlinkat(dirfd, tmp, 0);
        errno = saved;
    }
    return rc;
}

int kms_file_subdir_at(int dirfd, const char *name)
{
    if (mkdirat(dirfd, name, 0755) != 0 && errno != EEXIST)
        return -1;
    return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
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
