/* SPDX-License-Identifier: MIT */
/* load_util.h -- what the load tools (c2s_load, c2s_hold) share. */
#ifndef XMUX_BENCH_LOAD_UTIL_H
#define XMUX_BENCH_LOAD_UTIL_H

#include <stddef.h>

/* CLOCK_MONOTONIC in seconds. */
double now_s(void);
/* qsort comparison of doubles. */
int cmp_double(const void *a, const void *b);
/* This process's CPU time (user + system) in seconds. */
double self_cpu_s(void);
/* utime + stime of pid in seconds, or -1 (also for pid 0). */
double pid_cpu_s(unsigned long pid);
/* Raise the soft RLIMIT_NOFILE to the hard limit. */
void raise_nofile(void);

/* One command-line option: its name, its type ('s' string, 'u' unsigned,
 * 'd' double not below 0, 'D' any double) and where it is stored. */
struct optdef {
    const char *name;
    char type;
    void *p;
};
/* Parse "--name value" pairs of argv from index first against defs[0..n);
 * an unknown name, a missing or malformed value is reported on stderr
 * with tool's name and gives -1. */
int opts_parse(const struct optdef *defs, size_t n, int argc, char **argv,
               int first, const char *tool);

#endif
