#define _GNU_SOURCE
#include "CPeerCred.h"
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int cpeercred_get(int fd, pid_t *pid, uid_t *uid, gid_t *gid) {
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    if (len != sizeof(cred)) { errno = EINVAL; return -1; }
    if (pid) *pid = cred.pid;
    if (uid) *uid = cred.uid;
    if (gid) *gid = cred.gid;
    return 0;
}

int cpeercred_uid_in_group(uid_t uid, gid_t gid) {
    if (uid == 0) return 1;
    struct passwd pwbuf, *pw = NULL;
    char buf[16384];
    if (getpwuid_r(uid, &pwbuf, buf, sizeof(buf), &pw) != 0 || pw == NULL) return 0;
    if (pw->pw_gid == gid) return 1;
    int ngroups = 64;
    for (int attempt = 0; attempt < 4; attempt++) {
        gid_t *groups = malloc(sizeof(gid_t) * (size_t)ngroups);
        if (!groups) return -1;
        int n = ngroups;
        if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) >= 0) {
            int found = 0;
            for (int i = 0; i < n; i++) if (groups[i] == gid) { found = 1; break; }
            free(groups);
            return found;
        }
        free(groups);
        ngroups = n > ngroups ? n : ngroups * 2;
    }
    return -1;
}
