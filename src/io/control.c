/* SPDX-License-Identifier: MIT */
/* control.c -- the control socket: one command line in, lines out, close. */
#include "io/io_int.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/err.h"

/* Bytes of the command line, its newline included. */
#define CONTROL_IN_MAX 256
/* The command line must arrive within this time of connecting ... */
#define CONTROL_READ_MS 2000
/* ... and the whole answer be read within this time of it. */
#define CONTROL_WRITE_MS 30000
/* Control connections at once; the next ones get "error busy". */
#define CONTROL_CLIENTS_MAX 8
/* Bytes of one answer; past it, the answer ends with an error line. */
#define CONTROL_ANSWER_MAX ((size_t)64 << 20)
/* Room kept after CONTROL_ANSWER_MAX for that line. */
#define CONTROL_TAIL_MAX 128
/* Bytes of one line: a stream with every dialback pair it may hold, all
 * domains at their longest and escaped, fits. */
#define CONTROL_LINE_MAX ((size_t)4 << 20)
/* Connections the listening socket queues before we accept them. */
#define CONTROL_BACKLOG 16

/* One connection to the control socket. */
struct ctl_client {
    struct control *ctl;
    struct ctl_client *prev, *next;
    uint64_t id;
    long uid; /* the peer's uid (SO_PEERCRED), -1 if unknown */
    uv_pipe_t pipe;
    uv_timer_t timer; /* reading the command, then writing the answer */
    uv_write_t wreq;
    int open_handles;
    bool answered; /* the command was handled: later input is discarded */
    bool closing;
    const char *result; /* for the log line: "ok" or why not */
    char *answer;       /* owned while it is written */
    size_t answer_len;
    uint64_t started;
    size_t nin;
    char in[CONTROL_IN_MAX];
    char cmd[4 * CONTROL_IN_MAX + 8]; /* the command, escaped, or "-" */
};

struct control {
    struct server *srv;
    uv_pipe_t pipe;
    bool open; /* pipe initialised: close it at stop */
    struct ctl_client *clients;
    size_t nclients;
    uint64_t next_id;
};

void
server__control_init(struct server *srv)
{
    srv->control = x_calloc(1, sizeof(*srv->control));
    srv->control->srv = srv;
}

void
server__control_fini(struct server *srv)
{
    x_free(srv->control);
    srv->control = NULL;
}

/* --- one control connection ------------------------------------------- */

static void
on_client_closed(uv_handle_t *h)
{
    struct ctl_client *cl = h->data;
    if (--cl->open_handles > 0)
        return;
    x_free(cl->answer);
    x_free(cl);
}

/* Log the connection's one line, unlink it and close its handles; the
 * memory goes in the last close callback. */
static void
client_close(struct ctl_client *cl)
{
    if (cl->closing)
        return;
    cl->closing = true;
    struct control *ctl = cl->ctl;
    struct server *srv = ctl->srv;
    log_msg(&srv->log, LOG_INFO, 0,
            "event=control ctl=%llu uid=%ld cmd=%s result=%s bytes=%zu "
            "duration_ms=%llu",
            (unsigned long long)cl->id, cl->uid, cl->cmd, cl->result,
            cl->answer_len,
            (unsigned long long)(uv_now(srv->loop) - cl->started));
    if (cl->prev)
        cl->prev->next = cl->next;
    else
        ctl->clients = cl->next;
    if (cl->next)
        cl->next->prev = cl->prev;
    ctl->nclients--;
    uv_close((uv_handle_t *)&cl->pipe, on_client_closed);
    uv_close((uv_handle_t *)&cl->timer, on_client_closed);
}

static void
on_client_timeout(uv_timer_t *t)
{
    struct ctl_client *cl = t->data;
    if (!cl->answered)
        cl->result = "read-timeout";
    else if (cl->answer != NULL)
        cl->result = "write-timeout";
    client_close(cl);
}

static void
on_written(uv_write_t *req, int status)
{
    struct ctl_client *cl = req->data;
    x_free(cl->answer);
    cl->answer = NULL;
    if (status < 0 && strcmp(cl->result, "ok") == 0)
        cl->result = "write-error";
    client_close(cl);
}

/* Send the answer in b (taken out of it), then close. The client may
 * read slowly: libuv holds the bytes, for at most CONTROL_WRITE_MS. */
static void
client_answer(struct ctl_client *cl, struct buf *b)
{
    cl->answered = true;
    cl->answer = buf_take(b, &cl->answer_len);
    cl->wreq.data = cl;
    uv_buf_t ub = uv_buf_init(cl->answer, (unsigned)cl->answer_len);
    uv_timer_stop(&cl->timer);
    uv_timer_start(&cl->timer, on_client_timeout, CONTROL_WRITE_MS, 0);
    if (uv_write(&cl->wreq, (uv_stream_t *)&cl->pipe, &ub, 1, on_written) !=
        0) {
        cl->result = "write-error";
        client_close(cl);
    }
}

/* Answer with the single line "error WHY". */
static void
client_refuse(struct ctl_client *cl, const char *why)
{
    struct buf b;
    buf_init(&b, CONTROL_TAIL_MAX);
    (void)buf_printf(&b, "error %s\n", why);
    cl->result = why;
    client_answer(cl, &b);
    buf_fini(&b);
}

/* One line per live connection, oldest first (the list is newest
 * first). A snapshot: it is built in one go, before any of it is sent. */
static void
answer_connections(struct ctl_client *cl, struct buf *ans)
{
    struct server *srv = cl->ctl->srv;
    struct conn *c = srv->conns;
    while (c != NULL && c->next != NULL)
        c = c->next;
    struct buf line;
    buf_init(&line, CONTROL_LINE_MAX);
    for (; c != NULL; c = c->prev) {
        buf_reset(&line);
        conn__describe(c, &line);
        size_t n = buf_len(&line);
        if (n == 0 || buf_ptr(&line)[n - 1] != '\n') {
            buf_reset(&line);
            (void)buf_printf(&line, "conn=%llx error=line-too-long\n",
                             (unsigned long long)c->id);
        }
        if (buf_len(ans) + buf_len(&line) > CONTROL_ANSWER_MAX) {
            (void)buf_printf(ans, "error answer-too-large conns=%zu\n",
                             srv->nconns);
            cl->result = "answer-too-large";
            break;
        }
        (void)buf_append(ans, buf_ptr(&line), buf_len(&line));
    }
    buf_fini(&line);
}

static bool
cmd_is(const char *cmd, size_t n, const char *name)
{
    return n == strlen(name) && memcmp(cmd, name, n) == 0;
}

/* Run the command cmd[0..n) (the line without "\n" or "\r\n"). */
static void
client_command(struct ctl_client *cl, char *cmd, size_t n)
{
    if (n > 0 && cmd[n - 1] == '\r')
        n--;
    log_escape(cl->cmd, sizeof(cl->cmd), cmd, n);
    bool stats = cmd_is(cmd, n, "stats");
    if (!stats && !cmd_is(cmd, n, "connections")) {
        client_refuse(cl, "unknown-command");
        return;
    }
    struct buf ans;
    buf_init(&ans, CONTROL_ANSWER_MAX + CONTROL_TAIL_MAX);
    cl->result = "ok";
    server__lock(cl->ctl->srv);
    if (stats)
        server__stats(cl->ctl->srv, &ans);
    else
        answer_connections(cl, &ans);
    server__unlock(cl->ctl->srv);
    client_answer(cl, &ans);
    buf_fini(&ans);
}

static void
on_client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    struct ctl_client *cl = h->data;
    /* After the command, later bytes are read into the same place and
     * dropped: the line is never full then. */
    size_t off = cl->answered ? 0 : cl->nin;
    *b = uv_buf_init(cl->in + off, (unsigned)(sizeof(cl->in) - off));
}

static void
on_client_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    (void)b;
    struct ctl_client *cl = st->data;
    if (cl->closing || nread == 0)
        return;
    if (nread < 0) {
        uv_read_stop(st);
        if (cl->answered)
            return; /* the answer is still going out */
        if (nread == UV_EOF && cl->nin > 0) {
            /* The client shut down its side after a line without "\n". */
            client_command(cl, cl->in, cl->nin);
            return;
        }
        cl->result = nread == UV_EOF ? "no-command" : "read-error";
        client_close(cl);
        return;
    }
    if (cl->answered)
        return;
    size_t old = cl->nin;
    cl->nin += (size_t)nread;
    char *nl = memchr(cl->in + old, '\n', (size_t)nread);
    if (nl != NULL)
        client_command(cl, cl->in, (size_t)(nl - cl->in));
    else if (cl->nin == sizeof(cl->in))
        client_refuse(cl, "line-too-long");
}

/* The uid of the process at the other end, for the log. */
static long
client_uid(struct ctl_client *cl)
{
    uv_os_fd_t fd;
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (uv_fileno((uv_handle_t *)&cl->pipe, &fd) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return -1;
    return (long)cred.uid;
}

static void
on_control_connection(uv_stream_t *h, int status)
{
    struct control *ctl = h->data;
    struct server *srv = ctl->srv;
    if (status < 0) {
        log_msg_errno(&srv->log, LOG_WARN, 0, status,
                      "event=listen-error kind=control");
        return;
    }
    struct ctl_client *cl = x_calloc(1, sizeof(*cl));
    cl->ctl = ctl;
    cl->id = ++ctl->next_id;
    cl->uid = -1;
    cl->result = "-";
    cl->cmd[0] = '-';
    cl->started = uv_now(srv->loop);
    uv_pipe_init(srv->loop, &cl->pipe, 0);
    uv_timer_init(srv->loop, &cl->timer);
    cl->pipe.data = cl->timer.data = cl;
    cl->open_handles = 2;
    cl->next = ctl->clients;
    if (ctl->clients)
        ctl->clients->prev = cl;
    ctl->clients = cl;
    ctl->nclients++;
    if (uv_accept(h, (uv_stream_t *)&cl->pipe) != 0) {
        cl->result = "accept-error";
        client_close(cl);
        return;
    }
    cl->uid = client_uid(cl);
    uv_timer_start(&cl->timer, on_client_timeout, CONTROL_READ_MS, 0);
    uv_read_start((uv_stream_t *)&cl->pipe, on_client_alloc, on_client_read);
    if (ctl->nclients > CONTROL_CLIENTS_MAX)
        client_refuse(cl, "busy");
}

/* --- the listening socket --------------------------------------------- */

/* Whether an xmuxd listens at path: 0 if not (refused, or gone), else
 * -EADDRINUSE, or another -errno if we cannot tell. */
static int
control_probe(const char *path)
{
    struct sockaddr_un sa;
    size_t n = strlen(path);
    if (n >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    int e = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : errno;
    close(fd);
    if (e == ECONNREFUSED || e == ENOENT)
        return 0;
    if (e == 0 || e == EAGAIN || e == EINPROGRESS)
        return -EADDRINUSE; /* accepted, or its backlog is full */
    return -e;
}

/* Make path free for bind: a socket nobody listens on was left by an
 * xmuxd that did not stop cleanly and is removed; one that answers
 * belongs to a running xmuxd; anything else is not ours to remove. */
static int
control_take_path(struct server *srv, const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode))
        return -EEXIST;
    int rc = control_probe(path);
    if (rc == 0 && unlink(path) != 0 && errno != ENOENT)
        rc = -errno;
    if (rc == 0)
        log_msg(&srv->log, LOG_WARN, 0,
                "event=control-stale-socket path=%s action=removed", path);
    return rc;
}

int
server__control_listen(struct server *srv)
{
    struct control *ctl = srv->control;
    const char *path = srv->cfg->control_socket;
    int rc = control_take_path(srv, path);
    if (rc == 0) {
        uv_pipe_init(srv->loop, &ctl->pipe, 0);
        ctl->pipe.data = ctl;
        ctl->open = true;
        /* Created 0600: the file's permissions are the only access
         * control. The umask is the process's, but only for this call,
         * and other threads' files can only come out stricter. */
        mode_t old = umask(0177);
        rc = uv_pipe_bind(&ctl->pipe, path);
        umask(old);
    }
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&ctl->pipe, CONTROL_BACKLOG,
                       on_control_connection);
    if (rc < 0) {
        log_msg_errno(&srv->log, LOG_ERROR, 0, rc,
                      "event=listen-failed kind=control path=%s%s config=%s",
                      path,
                      rc == UV_EADDRINUSE ? " reason=another-xmuxd-listens"
                      : rc == UV_EEXIST   ? " reason=not-a-socket"
                                          : "",
                      srv->cfg->file);
        return rc;
    }
    log_msg(&srv->log, LOG_INFO, 0, "event=listening kind=control path=%s",
            path);
    return 0;
}

void
server__control_stop(struct server *srv)
{
    struct control *ctl = srv->control;
    if (ctl == NULL)
        return;
    /* libuv unlinks the path it bound when the pipe closes. */
    if (ctl->open && !uv_is_closing((uv_handle_t *)&ctl->pipe))
        uv_close((uv_handle_t *)&ctl->pipe, NULL);
    while (ctl->clients) {
        if (strcmp(ctl->clients->result, "-") == 0)
            ctl->clients->result = "shutdown";
        client_close(ctl->clients);
    }
}
