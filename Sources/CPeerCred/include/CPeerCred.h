#ifndef CPEERCRED_H
#define CPEERCRED_H
#include <sys/types.h>

/// Reads SO_PEERCRED of a connected Unix socket. Returns 0 on success, -1 with errno set otherwise.
int cpeercred_get(int fd, pid_t *pid, uid_t *uid, gid_t *gid);

/// Whether `uid` is root or a member of group `gid` (primary or supplementary). 1 yes, 0 no, -1 error.
int cpeercred_uid_in_group(uid_t uid, gid_t gid);
#endif
