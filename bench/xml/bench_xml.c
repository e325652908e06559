/* SPDX-License-Identifier: MIT */
/* bench_xml.c -- xml_reader + stanza_builder throughput against bare expat. */
#include <expat.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "stanza/stanza.h"
#include "xml/xml.h"

#define NSTANZAS 200000
#define CHUNK    4096
#define ROUNDS   7

static uint32_t
rnd(uint64_t *s)
{
    /* xorshift64*: reproducible input without libc's global state. */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (uint32_t)((*s * 0x2545F4914F6CDD1DULL) >> 32);
}

static const char *const words[] = {
    "wherefore", "art",    "thou",    "Romeo", "deny", "thy",  "father",
    "and",       "refuse", "name",    "or",    "if",   "wilt", "not",
    "be",        "but",    "sworn",   "my",    "love", "I'll", "no",
    "longer",    "a",      "Capulet", "&amp;", "rose", "by",   "any",
};

static void
add_words(struct buf *b, uint64_t *seed, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        buf_appendz(b, i ? " " : "");
        buf_appendz(b, words[rnd(seed) % (sizeof(words) / sizeof(*words))]);
    }
}

static void
gen_message(struct buf *b, uint64_t *seed, unsigned id)
{
    buf_printf(b,
               "<message to='juliet@capulet.example/balcony' "
               "from='romeo@montague.example/orchard' type='chat' "
               "id='msg-%u' xml:lang='en'><body>",
               id);
    add_words(b, seed, 6 + rnd(seed) % 14);
    buf_printf(b,
               "</body><thread>e0ffe42b28561960c6b12b944a092794b9683a%u"
               "</thread><active xmlns='http://jabber.org/protocol/"
               "chatstates'/><request xmlns='urn:xmpp:receipts'/>"
               "</message>\n",
               id % 97);
}

static void
gen_presence(struct buf *b, uint64_t *seed, unsigned id)
{
    buf_printf(b,
               "<presence from='benvolio@montague.example/laptop' "
               "id='pres-%u'><show>away</show><status>",
               id);
    add_words(b, seed, 2 + rnd(seed) % 5);
    buf_appendz(b, "</status><priority>5</priority><c "
                   "xmlns='http://jabber.org/protocol/caps' hash='sha-1' "
                   "node='https://conversations.im' "
                   "ver='QgayPKawpkPSDYmwT/WM94uAlu0='/></presence>\n");
}

static void
gen_iq(struct buf *b, uint64_t *seed, unsigned id)
{
    if (rnd(seed) % 2) {
        buf_printf(b,
                   "<iq type='get' id='disco-%u' to='capulet.example' "
                   "from='romeo@montague.example/orchard'><query "
                   "xmlns='http://jabber.org/protocol/disco#info' "
                   "node='https://conversations.im#QgayPKawpkPSDYmwT'/>"
                   "</iq>\n",
                   id);
        return;
    }
    buf_printf(b,
               "<iq type='result' id='items-%u' from='capulet.example' "
               "to='romeo@montague.example/orchard'><query "
               "xmlns='http://jabber.org/protocol/disco#items'><item "
               "jid='conference.capulet.example' name='Chatrooms'/><item "
               "jid='upload.capulet.example' name='HTTP upload'/></query>"
               "</iq>\n",
               id);
}

/* A c2s stream as a client sends it after authentication. */
static char *
gen_stream(size_t *len)
{
    struct buf b;
    buf_init(&b, (size_t)1 << 30);
    buf_appendz(&b, "<?xml version='1.0'?><stream:stream "
                    "xmlns='jabber:client' "
                    "xmlns:stream='http://etherx.jabber.org/streams' "
                    "to='capulet.example' version='1.0' xml:lang='en'>\n");
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    for (unsigned i = 0; i < NSTANZAS; i++) {
        uint32_t k = rnd(&seed) % 10;
        if (k < 5)
            gen_message(&b, &seed, i);
        else if (k < 8)
            gen_presence(&b, &seed, i);
        else
            gen_iq(&b, &seed, i);
    }
    buf_appendz(&b, "</stream:stream>");
    return buf_take(&b, len);
}

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* --- (a) bare expat --------------------------------------------------- */

struct bare {
    unsigned depth;
    unsigned long stanzas;
};

static void XMLCALL
bare_start(void *u, const XML_Char *name, const XML_Char **atts)
{
    (void)name, (void)atts;
    ((struct bare *)u)->depth++;
}

static void XMLCALL
bare_end(void *u, const XML_Char *name)
{
    (void)name;
    struct bare *b = u;
    if (--b->depth == 1)
        b->stanzas++;
}

static unsigned long
run_bare(const char *data, size_t len)
{
    struct bare b = {0, 0};
    XML_Parser p = XML_ParserCreateNS("UTF-8", '\x01');
    XML_SetUserData(p, &b);
    XML_SetReparseDeferralEnabled(p, XML_FALSE);
    XML_SetElementHandler(p, bare_start, bare_end);
    for (size_t off = 0; off < len; off += CHUNK) {
        size_t n = len - off < CHUNK ? len - off : CHUNK;
        if (XML_Parse(p, data + off, (int)n, XML_FALSE) != XML_STATUS_OK) {
            fprintf(stderr, "bare expat: %s\n",
                    XML_ErrorString(XML_GetErrorCode(p)));
            exit(1);
        }
    }
    XML_ParserFree(p);
    return b.stanzas;
}

/* --- (b) xml_reader + stanza_builder -------------------------------------- */

struct ours {
    struct stanza_builder sb;
    unsigned long stanzas;
};

static int
o_open(void *arg,
       const struct xml_name *el,
       const struct xml_attr *attrs,
       size_t nattrs,
       const struct xml_nsdecl *decls,
       size_t ndecls)
{
    (void)arg, (void)el, (void)attrs, (void)nattrs, (void)decls, (void)ndecls;
    return 0;
}

static int
o_start(void *arg,
        unsigned depth,
        const struct xml_name *el,
        const struct xml_attr *attrs,
        size_t nattrs)
{
    struct ours *o = arg;
    stanza_builder_start(&o->sb, depth, el, attrs, nattrs);
    return 0;
}

static int
o_text(void *arg, unsigned depth, const char *s, size_t len)
{
    struct ours *o = arg;
    stanza_builder_text(&o->sb, depth, s, len);
    return 0;
}

static int
o_end(void *arg, unsigned depth)
{
    struct ours *o = arg;
    struct stanza *st = stanza_builder_end(&o->sb, depth);
    if (st != NULL) {
        o->stanzas++;
        stanza_unref(st);
    }
    return 0;
}

static int
o_close(void *arg)
{
    (void)arg;
    return 0;
}

static unsigned long
run_ours(const char *data, size_t len)
{
    static const struct xml_handler h = {o_open, o_start, o_text, o_end,
                                         o_close};
    const struct xml_limits lim = {32, 64, 1024, 65536, 262144};
    struct ours o;
    stanza_builder_init(&o.sb);
    o.stanzas = 0;
    struct xml_reader *r = xml_reader_new(&lim, &h, &o);
    for (size_t off = 0; off < len; off += CHUNK) {
        size_t n = len - off < CHUNK ? len - off : CHUNK;
        size_t used;
        int rc = xml_reader_feed(r, data + off, n, &used);
        if (rc != 0 || used != n) {
            fprintf(stderr, "xml_reader: %s\n", xml_reader_error_text(r));
            exit(1);
        }
    }
    xml_reader_free(r);
    stanza_builder_fini(&o.sb);
    return o.stanzas;
}

/* Seconds one run of fn takes. */
static double
timed(unsigned long (*fn)(const char *, size_t),
      const char *data,
      size_t len,
      unsigned long *stanzas)
{
    double t0 = now();
    *stanzas = fn(data, len);
    return now() - t0;
}

static void
report(const char *what, size_t len, unsigned long n, double t)
{
    printf("%-24s %8.1f MB/s %10.0f stanzas/s  (%lu stanzas, %.3f s)\n", what,
           (double)len / t / 1e6, (double)n / t, n, t);
}

int
main(void)
{
    size_t len;
    char *data = gen_stream(&len);
    printf("stream: %zu bytes, %d stanzas, %.0f bytes/stanza, "
           "%d-byte chunks, best of %d\n",
           len, NSTANZAS, (double)len / NSTANZAS, CHUNK, ROUNDS);
    /* Alternate the two so that a noisy neighbour hurts both alike, and
     * keep the best time of each. */
    unsigned long nb = 0, no = 0;
    double tb = 1e9, to = 1e9;
    for (int i = 0; i < ROUNDS; i++) {
        double t = timed(run_bare, data, len, &nb);
        tb = t < tb ? t : tb;
        t = timed(run_ours, data, len, &no);
        to = t < to ? t : to;
    }
    report("bare expat", len, nb, tb);
    report("xml_reader+builder", len, no, to);
    printf("ours/expat: %.1f%%\n", 100.0 * tb / to);
    x_free(data);
    return nb == NSTANZAS && no == NSTANZAS ? 0 : 1;
}
