/* SPDX-License-Identifier: MIT */
/* config_control.c -- control_socket: where xmuxd takes xmuxctl's commands. */
#include "config/config_int.h"

#include <string.h>
#include <sys/un.h>

#include "base/alloc.h"
#include "base/err.h"

/* The file name of the default socket, under state_dir. */
#define CONTROL_SOCKET_FILE "xmuxd.sock"
/* Longest path a Unix socket address holds, without its NUL. bind()
 * cannot take more, and libuv (before uv_pipe_bind2) would cut a longer
 * one silently and listen somewhere else: refuse it here instead. */
#define CONTROL_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* state_dir/xmuxd.sock; the error names state_dir, whose length made it
 * too long, and the key that fixes it (not the path: it may hold any
 * byte, and it is long). */
static int
control_default(struct cfg__ctx *cx, const config_setting_t *root)
{
    struct config *cfg = cx->cfg;
    size_t dl = strlen(cfg->state_dir);
    bool slash = dl > 0 && cfg->state_dir[dl - 1] == '/';
    size_t n = dl + (slash ? 0 : 1) + strlen(CONTROL_SOCKET_FILE);
    if (n > CONTROL_PATH_MAX) {
        const config_setting_t *s =
            root ? config_setting_get_member(root, "state_dir") : NULL;
        return cfg__error(cx, s ? cfg__line(s) : 0,
                          "state_dir: too long for the default "
                          "control_socket, state_dir/" CONTROL_SOCKET_FILE
                          " (%zu bytes, at most %zu): set control_socket",
                          n, CONTROL_PATH_MAX);
    }
    char *p = x_malloc(n + 1);
    memcpy(p, cfg->state_dir, dl);
    if (!slash)
        p[dl] = '/';
    memcpy(p + dl + (slash ? 0 : 1), CONTROL_SOCKET_FILE,
           sizeof(CONTROL_SOCKET_FILE));
    x_free(cfg->control_socket);
    cfg->control_socket = p;
    return 0;
}

int
cfg__load_control(struct cfg__ctx *cx, const config_setting_t *root)
{
    int rc = 0;
    if (root != NULL)
        rc = cfg__get_path(cx, root, "", "control_socket",
                           &cx->cfg->control_socket);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return control_default(cx, root);
    size_t n = strlen(cx->cfg->control_socket);
    if (n > CONTROL_PATH_MAX)
        return cfg__error(
            cx, cfg__line(config_setting_get_member(root, "control_socket")),
            "control_socket: path too long for a Unix socket (%zu bytes, at "
            "most %zu)",
            n, CONTROL_PATH_MAX);
    return 0;
}
