/* SPDX-License-Identifier: MIT */
/* xmuxctl.c -- administration tool: accounts, and a running xmuxd's streams. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "config/config.h"
#include "jid/jid.h"
#include "sasl/sasl.h"
#include "store/store.h"

#ifndef XMUX_VERSION
#define XMUX_VERSION "0.0.0"
#endif

#define EXIT_USAGE 2
/* Longest password accepted, in bytes. */
#define PW_MAX 1023
/* Accounts fetched per list call. */
#define LIST_PAGE 256

/* One command's context: the configuration and the open store. */
struct ctl {
    const struct config *cfg;
    struct store *st;
    char host[JID_DOMAIN_BUFSZ]; /* prepared domain */
    char node[JID_PART_BUFSZ];   /* prepared localpart ("" for list) */
};

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: xmuxctl [--config FILE] COMMAND\n"
            "commands:\n"
            "  user add JID      create an account\n"
            "  user passwd JID   set a new password for an account\n"
            "  user del JID      delete an account\n"
            "  user list HOST    list the accounts of a host\n"
            "  connections       list the streams of the running xmuxd\n"
            "  stats             connection counts and limits hit so far\n"
            "options:\n"
            "  --config FILE     configuration file (default: the embedded\n"
            "                    configuration, state in $XMUX_STATE_DIR or\n"
            "                    ./xmux-state, as for xmuxd)\n"
            "  --version         print the version and exit\n"
            "  --help            print this help and exit\n"
            "Passwords come from standard input: asked twice without echo\n"
            "on a terminal, otherwise the first line.\n");
}

/* Load the configuration exactly as xmuxd does. */
static int
load_config(const char *path, struct config **cfg)
{
    struct buf err;
    buf_init(&err, 4096);
    int rc = config_load(path, getenv("XMUX_STATE_DIR"), cfg, &err);
    if (rc != 0)
        fprintf(stderr, "xmuxctl: %s\n",
                buf_len(&err) ? buf_ptr(&err) : xerr_str(rc));
    buf_fini(&err);
    return rc;
}

/* The domain must be one this server serves. */
static int
check_host(const struct ctl *c, const char *arg)
{
    if (config_host(c->cfg, c->host) != NULL)
        return 0;
    fprintf(stderr, "xmuxctl: %s: %s is not a host of this server (%s)\n", arg,
            c->host, c->cfg->file);
    return XE_CONFIG;
}

/* Parse arg as the bare JID of an account of a configured host. */
static int
parse_account(struct ctl *c, const char *arg)
{
    struct jid j = {0};
    int rc = jid_parse(&j, arg, strlen(arg));
    if (rc != 0) {
        fprintf(stderr, "xmuxctl: %s: %s\n", arg, xerr_str(rc));
        return rc;
    }
    size_t nlen, dlen;
    const char *node = jid_node(&j, &nlen);
    const char *dom = jid_domain(&j, &dlen);
    if (node == NULL || jid_has_resource(&j)) {
        fprintf(stderr,
                "xmuxctl: %s: an account is a bare JID with a "
                "localpart (user@host)\n",
                arg);
        jid_fini(&j);
        return XE_JID;
    }
    /* Both fit: jid_parse bounds each part by JID_PART_MAX. */
    (void)snprintf(c->node, sizeof(c->node), "%.*s", (int)nlen, node);
    (void)snprintf(c->host, sizeof(c->host), "%.*s", (int)dlen, dom);
    jid_fini(&j);
    return check_host(c, arg);
}

static int
parse_host(struct ctl *c, const char *arg)
{
    int rc = jid_domain_prep(arg, strlen(arg), c->host, sizeof(c->host), NULL);
    if (rc != 0) {
        fprintf(stderr, "xmuxctl: %s: %s\n", arg, xerr_str(rc));
        return rc;
    }
    return check_host(c, arg);
}

/* Create the state directory if needed (private, as xmuxd makes it) and
 * open <state_dir>/xmux.db. */
static int
open_store(struct ctl *c)
{
    const char *dir = c->cfg->state_dir;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "xmuxctl: %s: %s\n", dir, strerror(errno));
        return -errno;
    }
    struct buf path, err;
    buf_init(&path, 4096);
    buf_init(&err, 4096);
    int rc = buf_printf(&path, "%s/%s", dir, STORE_DB_FILE);
    if (rc == 0)
        rc = store_sync_open(buf_ptr(&path), &c->st, &err);
    if (rc != 0)
        fprintf(stderr, "xmuxctl: %s\n",
                buf_len(&err) ? buf_ptr(&err) : xerr_str(rc));
    buf_fini(&path);
    buf_fini(&err);
    return rc;
}

/* Read one line from fd byte by byte, so that no copy of the password is
 * left in a stdio buffer. Strips "\n" or "\r\n". */
static int
read_line(int fd, char *buf, size_t cap, size_t *lenp)
{
    size_t n = 0;
    for (;;) {
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0 || ch == '\n')
            break;
        if (ch == '\0' || n + 1 >= cap)
            return XE_INVAL;
        buf[n++] = ch;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    *lenp = n;
    return 0;
}

/* Collect one line typed with canonical mode off: erase (DEL, ^H) and
 * kill (^U) are handled here; ^C, or ^D on an empty line, aborts. */
static int
tty_collect(char *buf, size_t cap, size_t *lenp)
{
    size_t n = 0;
    int rc = 0;
    for (;;) {
        char ch;
        ssize_t r = read(STDIN_FILENO, &ch, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || ch == 0x03 || (ch == 0x04 && n == 0)) {
            rc = r < 0 ? -errno : -EINTR;
            break;
        }
        if (ch == '\r' || ch == '\n' || ch == 0x04)
            break;
        if (ch == 0x7f || ch == 0x08) {
            if (n > 0)
                n--;
        } else if (ch == 0x15) {
            n = 0;
        } else if (ch == '\0' || n + 1 >= cap) {
            rc = XE_INVAL;
            break;
        } else {
            buf[n++] = ch;
        }
    }
    buf[n] = '\0';
    *lenp = n;
    return rc;
}

/* Read a password on a terminal, without echo. Signals are off so that ^C
 * cannot leave the terminal silent: it arrives as a byte and aborts after
 * the settings are restored. Canonical mode is off too, for ^C to arrive
 * at once rather than at the end of the line. */
static int
read_tty(const char *prompt, char *buf, size_t cap, size_t *lenp)
{
    struct termios old, raw;
    if (tcgetattr(STDIN_FILENO, &old) != 0)
        return -errno;
    raw = old;
    raw.c_lflag &= ~(tcflag_t)(ECHO | ICANON | ISIG);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    /* Echo goes off before the prompt appears, so nothing typed after
     * the prompt can be echoed; type-ahead is kept, not flushed. */
    if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) != 0)
        return -errno;
    fputs(prompt, stderr);
    fflush(stderr);
    int rc = tty_collect(buf, cap, lenp);
    (void)tcsetattr(STDIN_FILENO, TCSANOW, &old);
    fputc('\n', stderr);
    return rc;
}

/* Ask twice on the terminal; XE_STATE if the two differ. */
static int
read_tty_twice(char *pw, size_t cap, size_t *lenp)
{
    char again[PW_MAX + 1];
    size_t n2 = 0;
    int rc = read_tty("Password: ", pw, cap, lenp);
    if (rc == 0)
        rc = read_tty("Repeat password: ", again, sizeof(again), &n2);
    if (rc == 0 && (n2 != *lenp || memcmp(pw, again, n2) != 0))
        rc = XE_STATE;
    explicit_bzero(again, sizeof(again));
    return rc;
}

/* Read the new password: twice on a terminal, else one line of stdin.
 * Empty passwords are refused. Returns 0 or 1 (message printed). */
static int
read_password(char *pw, size_t cap, size_t *lenp)
{
    int rc = isatty(STDIN_FILENO) ? read_tty_twice(pw, cap, lenp)
                                  : read_line(STDIN_FILENO, pw, cap, lenp);
    if (rc == 0 && *lenp == 0)
        rc = XE_NOTFOUND;
    if (rc == 0)
        return 0;
    const char *why = rc == XE_STATE      ? "the passwords do not match"
                      : rc == XE_NOTFOUND ? "empty password"
                      : rc == -EINTR      ? "interrupted"
                      : rc == XE_INVAL
                          ? "password too long or contains a NUL byte"
                          : xerr_str(rc);
    fprintf(stderr, "xmuxctl: %s\n", why);
    return 1;
}

/* Read a password and derive SCRAM credentials into a; the password is
 * wiped before returning. */
static int
new_creds(struct store_account *a)
{
    char pw[PW_MAX + 1];
    size_t n = 0;
    int rc = read_password(pw, sizeof(pw), &n);
    if (rc == 0) {
        rc = sasl_creds_derive(pw, n, SASL_SCRAM_ITERATIONS, &a->creds);
        if (rc != 0)
            fprintf(stderr, "xmuxctl: the password is not usable: %s\n",
                    xerr_str(rc));
    }
    explicit_bzero(pw, sizeof(pw));
    return rc;
}

static int
fail_store(const struct ctl *c, int rc)
{
    if (rc == XE_STATE)
        fprintf(stderr, "xmuxctl: %s@%s already exists\n", c->node, c->host);
    else if (rc == XE_NOTFOUND)
        fprintf(stderr, "xmuxctl: %s@%s: no such account\n", c->node, c->host);
    else
        fprintf(stderr, "xmuxctl: %s@%s: %s\n", c->node, c->host, xerr_str(rc));
    return rc;
}

static int
cmd_add(struct ctl *c)
{
    /* Look first, so that nobody types a password for nothing; the put
     * below is create-only, so a race still cannot replace an account. */
    struct store_account a;
    int rc = store_sync_account_get(c->st, c->host, c->node, &a);
    if (rc == 0)
        return fail_store(c, XE_STATE);
    if (rc != XE_NOTFOUND)
        return fail_store(c, rc);
    memset(&a, 0, sizeof(a));
    a.host = c->host;
    a.node = c->node;
    rc = new_creds(&a);
    if (rc == 0) {
        rc = store_sync_account_put(c->st, &a, STORE_PUT_CREATE);
        if (rc == 0)
            printf("added %s@%s\n", c->node, c->host);
        else
            fail_store(c, rc);
    }
    explicit_bzero(&a.creds, sizeof(a.creds));
    return rc;
}

static int
cmd_passwd(struct ctl *c)
{
    struct store_account a;
    int rc = store_sync_account_get(c->st, c->host, c->node, &a);
    if (rc != 0)
        return fail_store(c, rc);
    /* Keep the disabled flag; replace-only, in case of a concurrent del. */
    rc = new_creds(&a);
    if (rc == 0) {
        rc = store_sync_account_put(c->st, &a, STORE_PUT_UPDATE);
        if (rc == 0)
            printf("password changed for %s@%s\n", c->node, c->host);
        else
            fail_store(c, rc);
    }
    explicit_bzero(&a.creds, sizeof(a.creds));
    return rc;
}

static int
cmd_del(struct ctl *c)
{
    int rc = store_sync_account_del(c->st, c->host, c->node);
    if (rc != 0)
        return fail_store(c, rc);
    printf("deleted %s@%s\n", c->node, c->host);
    return 0;
}

/* Page through the host's accounts, one bare JID per line. */
static int
cmd_list(struct ctl *c)
{
    char after[JID_PART_BUFSZ] = "";
    for (;;) {
        struct store_list l;
        int rc = store_sync_account_list(c->st, c->host, after, LIST_PAGE, &l);
        if (rc != 0) {
            store_list_fini(&l);
            fprintf(stderr, "xmuxctl: %s: %s\n", c->host, xerr_str(rc));
            return rc;
        }
        for (size_t i = 0; i < l.n; i++)
            printf("%s@%s%s\n", l.v[i].node, l.v[i].host,
                   l.v[i].disabled ? " (disabled)" : "");
        size_t n = l.n;
        if (n > 0)
            (void)snprintf(after, sizeof(after), "%s", l.v[n - 1].node);
        store_list_fini(&l);
        if (n < LIST_PAGE)
            return 0;
    }
}

struct command {
    const char *name;
    bool account; /* the argument is an account JID, else a host */
    int (*run)(struct ctl *c);
};

static const struct command commands[] = {
    {"add", true, cmd_add},
    {"passwd", true, cmd_passwd},
    {"del", true, cmd_del},
    {"list", false, cmd_list},
};

static const struct command *
find_command(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[0], "user") != 0)
        return NULL;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return &commands[i];
    return NULL;
}

static int
run(const struct command *cmd, const char *arg, const char *cfg_path)
{
    struct config *cfg = NULL;
    if (load_config(cfg_path, &cfg) != 0)
        return 1;
    struct ctl c = {.cfg = cfg};
    int rc = cmd->account ? parse_account(&c, arg) : parse_host(&c, arg);
    if (rc == 0)
        rc = open_store(&c);
    if (rc == 0)
        rc = cmd->run(&c);
    store_sync_close(c.st);
    config_free(cfg);
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "xmuxctl: standard output: %s\n", strerror(errno));
        rc = -EIO;
    }
    return rc == 0 ? 0 : 1;
}

/* --- commands to the running xmuxd (docs/control.md) ------------------- */

/* How long xmuxd may take to answer. */
#define CONTROL_TIMEOUT_S 30

/* Connect to xmuxd's control socket at path; -1 with a message if none
 * listens there. */
static int
control_connect(const char *path)
{
    struct sockaddr_un sa;
    size_t n = strlen(path);
    if (n >= sizeof(sa.sun_path)) {
        /* config_load refuses such paths; never cut one. */
        fprintf(stderr, "xmuxctl: %s: path too long for a Unix socket\n", path);
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "xmuxctl: socket: %s\n", strerror(errno));
        return -1;
    }
    int rc;
    do {
        rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        fprintf(stderr,
                "xmuxctl: cannot connect to %s: %s (is xmuxd running?)\n", path,
                strerror(errno));
        close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = CONTROL_TIMEOUT_S};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

static int
send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Longest answer line accepted (xmuxd writes at most 4 MiB). */
#define CONTROL_LINE_MAX ((size_t)8 << 20)

/* One line of the answer: "error ..." goes to standard error and makes
 * the command fail; any other line to standard output. */
static int
print_line(const struct buf *line)
{
    const char *p = buf_ptr(line);
    if (strncmp(p, "error ", 6) == 0) {
        fprintf(stderr, "xmuxctl: xmuxd answered: %s", p + 6);
        return 1;
    }
    fwrite(p, 1, buf_len(line), stdout);
    return 0;
}

/* Split n bytes of the answer into lines and print the complete ones;
 * the rest waits in line. Returns 0, 1 after an error line, or -1 if a
 * line is too long (message printed). */
static int
feed_answer(struct buf *line, const char *p, size_t n, const char *path)
{
    int rc = 0;
    const char *end = p + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t k = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        if (buf_append(line, p, k) != 0) {
            fprintf(stderr, "xmuxctl: %s: answer line too long\n", path);
            return -1;
        }
        p += k;
        if (nl) {
            rc |= print_line(line);
            buf_reset(line);
        }
    }
    return rc;
}

/* Copy the answer, line by line, until xmuxd closes the connection. */
static int
print_answer(int fd, const char *path)
{
    struct buf line;
    buf_init(&line, CONTROL_LINE_MAX);
    int rc = 0;
    for (;;) {
        char chunk[4096];
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fprintf(stderr, "xmuxctl: %s: %s\n", path,
                    errno == EAGAIN ? "no answer from xmuxd" : strerror(errno));
        if (n <= 0) {
            rc |= n < 0;
            break;
        }
        int r = feed_answer(&line, chunk, (size_t)n, path);
        if (r < 0) {
            rc = 1;
            break;
        }
        rc |= r;
    }
    if (rc == 0 && buf_len(&line) > 0) {
        fprintf(stderr, "xmuxctl: %s: answer cut short\n", path);
        rc = 1;
    }
    buf_fini(&line);
    close(fd);
    return rc;
}

/* Send one command line to the xmuxd of the configuration; print what
 * it answers. */
static int
run_control(const char *cfg_path, const char *cmd)
{
    struct config *cfg = NULL;
    if (load_config(cfg_path, &cfg) != 0)
        return 1;
    const char *path = cfg->control_socket;
    int rc = 1;
    int fd = control_connect(path);
    if (fd >= 0) {
        int e = send_all(fd, cmd, strlen(cmd));
        if (e == 0) {
            rc = print_answer(fd, path);
        } else {
            fprintf(stderr, "xmuxctl: %s: %s\n", path, strerror(-e));
            close(fd);
        }
    }
    config_free(cfg);
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "xmuxctl: standard output: %s\n", strerror(errno));
        rc = 1;
    }
    return rc;
}

/* A command answered by the running xmuxd: "connections" or "stats". */
static const char *
control_command(int argc, char **argv)
{
    if (argc != 1)
        return NULL;
    if (strcmp(argv[0], "connections") == 0)
        return "connections\n";
    if (strcmp(argv[0], "stats") == 0)
        return "stats\n";
    return NULL;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'V':
            printf("xmuxctl %s\n", XMUX_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    const char *ctl = control_command(argc - optind, argv + optind);
    if (ctl != NULL)
        return run_control(path, ctl);
    const struct command *cmd = find_command(argc - optind, argv + optind);
    if (cmd == NULL) {
        usage(stderr);
        return EXIT_USAGE;
    }
    return run(cmd, argv[optind + 2], path);
}
