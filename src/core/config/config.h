/* SPDX-License-Identifier: MIT */
/* config.h -- configuration: text -> validated, immutable struct config. */
#ifndef XMUX_CONFIG_H
#define XMUX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/log.h"
#include "xml/xml.h"

enum cfg_listen_kind {
    CFG_LISTEN_C2S,     /* "c2s": plain TCP, STARTTLS required */
    CFG_LISTEN_C2S_TLS, /* "c2s-tls": Direct TLS (XEP-0368) */
    CFG_LISTEN_S2S,     /* "s2s" */
    CFG_LISTEN_S2S_TLS, /* "s2s-tls" */
};

struct cfg_listen {
    enum cfg_listen_kind kind;
    char *address; /* IPv4 or IPv6 literal */
    uint16_t port;
    int line; /* line in the config file, for later error messages */
};

struct cfg_host {
    char *domain; /* normalised (jid_domain_prep) */
    char *cert;   /* PEM file, NULL: generated at first start */
    char *key;
    bool mux; /* offer/use mux for this host (default true) */
    int line;
    /* Domains listed in the mux host list (H, MUX §6.4) on streams to this
     * host, each normalised and a local host. NULL: the key is absent, so
     * every local host is listed; non-NULL with nmux_advertise == 0: an
     * explicitly empty list. */
    char **mux_advertise;
    size_t nmux_advertise;
};

struct cfg_route {
    char *domain; /* normalised */
    char *host;   /* address or name to connect to */
    uint16_t port;
    bool direct_tls; /* XEP-0368: TLS from the first byte */
    int line;
};

/* Every duration is in milliseconds (the file gives seconds; fractions
 * allowed, so tests can shorten them). */
struct cfg_timeouts {
    uint32_t negotiation;     /* T_negotiation, default 60 s */
    uint32_t close_wait;      /* T_close_wait, default 10 s */
    uint32_t idle;            /* idle stream, default 300 s */
    uint32_t dialback;        /* T_dialback, default 30 s */
    uint32_t authz;           /* T_authz_I, default 30 s */
    uint32_t iq_response;     /* T_iq_R, default 30 s */
    uint32_t secondary_close; /* T_secondary_close, default 30 s */
    uint32_t connect;         /* one outgoing TCP connect, default 10 s */
};

/* Stream management (XEP-0198, docs/sm.md). */
struct cfg_sm {
    bool c2s, s2s;           /* offer and use it (default true) */
    uint32_t resume_timeout; /* ms a c2s session waits for resumption */
    uint32_t max_unacked;    /* unacknowledged stanzas before the cut */
    uint32_t request_every;  /* stanzas sent between our <r/> */
};

/* The limits against denial of service that are not XML parser limits
 * (docs/limits.md). A rate of 0 means unlimited. */
struct cfg_conn_limits {
    size_t per_ip;          /* accepted connections per address or /64 */
    size_t fd_reserve;      /* descriptors kept free below RLIMIT_NOFILE */
    uint32_t c2s_rate;      /* bytes per second read from a client */
    uint32_t c2s_burst;     /* bytes a client may send at once */
    uint32_t s2s_rate;      /* the same for servers (default 0) */
    uint32_t s2s_burst;
    unsigned restarts;      /* stream restarts on one connection */
    unsigned sasl_failures; /* failed SASL attempts on one stream */
    size_t output_queue;    /* hard mark of the output queue, bytes */
};

/* Every limit that is counted when hit: its id and the name used in
 * the log (what=NAME) and by xmuxctl stats (limit.NAME). */
#define CFG_LIMIT_MAP(X)                         \
    X(MAX_CONNECTIONS, "max-connections")        \
    X(PER_IP, "connections-per-ip")              \
    X(FDS, "fds")                                \
    X(XML, "xml")                                \
    X(RATE, "rate")                              \
    X(RESTARTS, "restarts")                      \
    X(SASL_FAILURES, "sasl-failures")            \
    X(AUTH_QUEUE, "auth-queue")                  \
    X(OUTPUT_QUEUE, "output-queue")              \
    X(NEGOTIATION_TIMEOUT, "negotiation-timeout")  \
    X(SM_UNACKED, "sm-unacked")                    \
    X(SM_DETACHED_QUEUE, "sm-detached-queue")      \
    X(ACCOUNT_SESSIONS, "account-sessions")        \
    X(C2S_AUTHORIZATIONS, "c2s-authorizations")    \
    X(DIRECTED_PRESENCE, "directed-presence")      \
    X(S2S_QUEUE, "s2s-queue")

enum cfg_limit {
#define CFG_LIMIT_ENUM(id, name) CFG_LIMIT_##id,
    CFG_LIMIT_MAP(CFG_LIMIT_ENUM)
#undef CFG_LIMIT_ENUM
    CFG_LIMIT_COUNT
};

#define CFG_THREADS_MAX 64

struct config {
    char *file; /* path loaded, or "(default)" */
    char *state_dir;
    /* Where xmuxd takes xmuxctl's commands (docs/control.md): the
     * resolved control_socket, else state_dir/xmuxd.sock. Always set, and
     * short enough for a sockaddr_un. */
    char *control_socket;
    /* Whom xmuxd runs as after binding its sockets and reading its keys
     * (docs/security.md): account names, not yet looked up, or NULL.
     * group NULL: the user's primary group. The lines are for the
     * daemon's errors when a name does not exist. */
    char *user;
    char *group;
    int user_line, group_line;
    enum log_level log_level;
    /* Network threads, each with its own loop (docs/architecture.md). */
    unsigned threads; /* 1..CFG_THREADS_MAX */
    /* Microseconds a worker polls without sleeping after a read (0: off). */
    uint32_t poll_spin_us;
    struct cfg_listen *listen;
    size_t nlisten;
    char *tls_ca_file;
    struct cfg_host *hosts;
    size_t nhosts;
    struct {
        bool dialback, bidi, mux;
        unsigned max_connections_per_peer; /* 1..4 */
        struct cfg_route *routes;
        size_t nroutes;
        bool mux_authorization;  /* run M3 as I, accept F4 as R (true) */
        bool require_client_eku; /* MUX §5.1 (default true) */
        /* Outgoing streams need a peer certificate that validates, and
         * incoming dialback needs one too (default false: dialback may
         * authenticate a peer whose certificate does not validate). */
        bool require_valid_certificates;
        char *resolver; /* DNS servers for s2s ("IP[:port],..."), or NULL */
    } s2s;
    struct {
        bool mux;
        bool mux_allow_domain_jids; /* MUX §5.6 (default false) */
        bool allow_plain; /* offer SASL PLAIN over TLS (default true) */
    } c2s;
    struct cfg_sm sm;
    struct cfg_timeouts timeouts;
    struct xml_limits limits_preauth; /* before authentication */
    struct xml_limits limits;         /* after authentication */
    size_t max_connections;           /* total accepted connections */
    struct cfg_conn_limits conn_limits;
};

/* Load and validate the file at path. On success *out is a new config the
 * caller frees with config_free. On failure returns XE_CONFIG (or -errno
 * if the file cannot be read) and err holds one line "FILE:LINE: message"
 * (LINE omitted only when no line applies). */
int config_load_file(const char *path, struct config **out, struct buf *err);
/* Same, from text in memory; name stands for the file in messages. */
int config_load_string(const char *text,
                       const char *name,
                       struct config **out,
                       struct buf *err);
/* The embedded default: host "localhost", listeners on 127.0.0.1 (c2s
 * 5222, c2s-tls 5223, s2s 5269, s2s-tls 5270), state under state_dir
 * (NULL: "./xmux-state"). */
int config_load_default(const char *state_dir,
                        struct config **out,
                        struct buf *err);
/* What xmuxd and xmuxctl load: the file at path, or without one the
 * embedded default with state_dir (NULL or "": "./xmux-state"; both
 * programs pass $XMUX_STATE_DIR). Returns like config_load_file. */
int config_load(const char *path, const char *state_dir, struct config **out,
                struct buf *err);
/* The text of the embedded default (what config_load_default parses). */
const char *config_default_text(void);
/* Free a config; accepts NULL. */
void config_free(struct config *cfg);
/* The host entry serving domain (already normalised), or NULL. */
const struct cfg_host *config_host(const struct config *cfg,
                                   const char *domain);
/* The name of a limit ("max-connections", ...; "?" if out of range). */
const char *config_limit_name(enum cfg_limit l);
/* "c2s", "c2s-tls", "s2s", "s2s-tls". */
const char *config_listen_kind_name(enum cfg_listen_kind k);

#endif
