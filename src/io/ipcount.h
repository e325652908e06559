/* SPDX-License-Identifier: MIT */
/* ipcount.h -- connections per source address (IPv6 per /64). */
#ifndef XMUX_IO_IPCOUNT_H
#define XMUX_IO_IPCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The group an address counts in: an IPv4 address (IPv4-mapped IPv6
 * included) as itself, an IPv6 address by its first 64 bits, since one
 * host is commonly given a whole /64. */
struct ipkey {
    unsigned char b[16];
};

/* The key of sa; false for a family other than AF_INET and AF_INET6. */
bool ipkey_from_sockaddr(const struct sockaddr *sa, struct ipkey *k);

struct ipcount_node;

/* Exact counts (nothing is evicted: every add has its del), hashed with a
 * secret seed. Entries live only while their count is above zero, so the
 * table holds at most one entry per live connection. */
struct ipcount {
    struct ipcount_node **v;
    size_t nbuckets; /* power of two */
    size_t n;        /* keys with a count */
    uint64_t seed;
};

/* Set up a table sized for about expect keys. */
void ipcount_init(struct ipcount *t, size_t expect, uint64_t seed);
/* Free every entry; accepts a table never initialised (zeroed). */
void ipcount_fini(struct ipcount *t);
/* Count one more connection for k; returns the count, this one included. */
size_t ipcount_add(struct ipcount *t, const struct ipkey *k);
/* Count one connection less for k (one that ipcount_add counted). */
void ipcount_del(struct ipcount *t, const struct ipkey *k);
/* The current count for k. */
size_t ipcount_get(const struct ipcount *t, const struct ipkey *k);

#endif
