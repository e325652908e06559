/* SPDX-License-Identifier: MIT */
/* fuzz_config.c -- libFuzzer target: load arbitrary bytes as a config. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What every loaded config guarantees; a violation aborts, which libFuzzer
 * reports as a crash. */
static void
check_config(const struct config *cfg)
{
    if (cfg->nlisten == 0 || cfg->nhosts == 0 || cfg->state_dir == NULL ||
        cfg->tls_ca_file == NULL)
        abort();
    /* It must fit a sockaddr_un (sun_path is 108 bytes on Linux). */
    if (cfg->control_socket == NULL || strlen(cfg->control_socket) > 107)
        abort();
    for (size_t i = 0; i < cfg->nlisten; i++)
        if (cfg->listen[i].port == 0 || cfg->listen[i].address == NULL)
            abort();
    for (size_t i = 0; i < cfg->nhosts; i++) {
        const struct cfg_host *h = &cfg->hosts[i];
        if (config_host(cfg, h->domain) != h ||
            (h->cert == NULL) != (h->key == NULL))
            abort();
    }
    const struct xml_limits *pre = &cfg->limits_preauth, *post = &cfg->limits;
    if (pre->max_stanza > post->max_stanza ||
        pre->max_depth > post->max_depth || post->max_text > post->max_stanza ||
        cfg->timeouts.idle == 0)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* config_load_string takes a C string: bytes after a NUL are simply
     * not part of the text. */
    char *text = x_malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    struct buf err;
    buf_init(&err, 1024);
    struct config *cfg = NULL;
    int rc = config_load_string(text, "fuzz.conf", &cfg, &err);
    if (rc == 0) {
        if (cfg == NULL)
            abort();
        check_config(cfg);
    } else {
        /* A failure leaves no config and exactly one line naming the
         * file. */
        if (rc != XE_CONFIG || cfg != NULL ||
            strncmp(buf_ptr(&err), "fuzz.conf", 9) != 0 ||
            strchr(buf_ptr(&err), '\n') != NULL)
            abort();
    }
    config_free(cfg);
    buf_fini(&err);
    x_free(text);
    return 0;
}
