/* SPDX-License-Identifier: MIT */
/* main.c -- xmuxd: load the configuration, listen, run until a signal. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "config/config.h"
#include "daemon/privs.h"
#include "io/io.h"

#ifndef XMUX_VERSION
#define XMUX_VERSION "0.0.0"
#endif

struct daemon {
    struct server srv;
    uv_signal_t sigterm, sigint;
};

static void
usage(FILE *f)
{
    fprintf(f, "usage: xmuxd [--config FILE] [--check-config] [--version]\n"
               "  --config FILE   configuration file (default: the embedded\n"
               "                  configuration: host localhost on 127.0.0.1,\n"
               "                  state in $XMUX_STATE_DIR or ./xmux-state)\n"
               "  --check-config  load and validate the configuration, "
               "then exit\n"
               "  --version       print the version and exit\n");
}

static void
on_signal(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;
    log_msg(&d->srv.log, LOG_INFO, 0, "event=signal signal=%s",
            signum == SIGTERM ? "TERM" : "INT");
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    server_lock(&d->srv);
    server_stop(&d->srv);
    server_unlock(&d->srv);
}

/* Print a start-up error: the line in err, else rc's message. */
static void
report(const struct buf *err, int rc)
{
    fprintf(stderr, "xmuxd: %s\n", buf_len(err) ? buf_ptr(err) : xerr_str(rc));
}

static int
load_config(const char *path, struct config **cfg)
{
    struct buf err;
    buf_init(&err, 4096);
    int rc = config_load(path, getenv("XMUX_STATE_DIR"), cfg, &err);
    if (rc != 0)
        report(&err, rc);
    buf_fini(&err);
    return rc;
}

/* Close what server_init opened, letting the loop run the close
 * callbacks. */
static void
teardown(struct daemon *d, uv_loop_t *loop)
{
    server_stop(&d->srv);
    uv_run(loop, UV_RUN_DEFAULT);
    server_fini(&d->srv);
    uv_loop_close(loop);
}

/* What needs root, in order: the keys read, the ports bound (the state
 * directory was handed to the user before). Then the drop, what the user
 * does in the state directory, and the ports opened (docs/security.md). */
static int
start(struct daemon *d,
      const struct config *cfg,
      const struct privs *pv,
      struct buf *err)
{
    int rc = server_init(&d->srv, uv_default_loop(), cfg, err);
    if (rc != 0) {
        report(err, rc);
        return rc;
    }
    log_msg(&d->srv.log, LOG_INFO, 0,
            "event=start version=%s config=%s hosts=%zu state_dir=%s",
            XMUX_VERSION, cfg->file, cfg->nhosts, cfg->state_dir);
    rc = server_bind(&d->srv);
    if (rc != 0)
        return rc; /* logged with the listener's line */
    rc = privs_drop(cfg, pv, err);
    if (rc != 0) {
        report(err, rc);
        return rc;
    }
    privs_log(pv, &d->srv.log);
    rc = server_open_state(&d->srv, err);
    if (rc != 0) {
        if (buf_len(err) > 0)
            report(err, rc);
        return rc;
    }
    return server_listen(&d->srv);
}

static int
run(const struct config *cfg, const struct privs *pv)
{
    struct daemon d;
    uv_loop_t *loop = uv_default_loop();
    struct buf err;
    buf_init(&err, 4096);
    int rc = privs_prepare_state(cfg, pv, &err);
    if (rc != 0) {
        report(&err, rc);
        buf_fini(&err);
        return 1;
    }
    rc = start(&d, cfg, pv, &err);
    buf_fini(&err);
    if (rc != 0) {
        teardown(&d, loop);
        return 1;
    }
    uv_signal_init(loop, &d.sigterm);
    uv_signal_init(loop, &d.sigint);
    d.sigterm.data = d.sigint.data = &d;
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    uv_run(loop, UV_RUN_DEFAULT);
    log_msg(&d.srv.log, LOG_INFO, 0, "event=stopped");
    server_fini(&d.srv);
    uv_loop_close(loop);
    return 0;
}

/* Whom to run as, decided before anything is opened; also what
 * --check-config reports beyond the file itself. */
static int
plan(const struct config *cfg, bool embedded, bool check, struct privs *pv)
{
    struct buf err;
    buf_init(&err, 4096);
    int rc = privs_plan(cfg, embedded, check, pv, &err);
    if (rc != 0)
        report(&err, rc);
    buf_fini(&err);
    return rc;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 'C'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    int check = 0, opt;
    while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'C':
            check = 1;
            break;
        case 'V':
            printf("xmuxd %s\n", XMUX_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    /* A peer that disconnects mid-write must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    struct config *cfg = NULL;
    if (load_config(path, &cfg) != 0)
        return 1;
    struct privs pv;
    if (plan(cfg, path == NULL, check, &pv) != 0) {
        config_free(cfg);
        return 1;
    }
    if (check) {
        printf("%s: configuration ok (%zu hosts, %zu listeners)\n", cfg->file,
               cfg->nhosts, cfg->nlisten);
        config_free(cfg);
        return 0;
    }
    int rc = run(cfg, &pv);
    config_free(cfg);
    return rc;
}
