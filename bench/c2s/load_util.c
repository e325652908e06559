/* SPDX-License-Identifier: MIT */
/* load_util.c -- what the load tools (c2s_load, c2s_hold) share: clocks,
 * CPU time of processes, the descriptor limit. */
#include "load_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double
self_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Enough descriptors for the idle sessions: raise the soft limit. */
void
raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* User plus system CPU seconds of process pid (all its threads), from
 * /proc/PID/stat; -1 without a pid or when it cannot be read. */
double
pid_cpu_s(unsigned long pid)
{
    if (pid == 0)
        return -1;
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%lu/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    /* The command name may hold spaces: fields are counted after ')'.
     * utime and stime are fields 14 and 15; ") " ends field 2. */
    char *p = strrchr(line, ')');
    for (int field = 2; p != NULL && field < 14; field++)
        p = strchr(p + 1, ' ');
    if (p == NULL)
        return -1;
    char *end;
    unsigned long ut = strtoul(p + 1, &end, 10);
    unsigned long st = strtoul(end, NULL, 10);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int
opt_set(const struct optdef *d, const char *v)
{
    char *end;
    errno = 0;
    if (d->type == 's') {
        *(const char **)d->p = v;
        return 0;
    }
    if (d->type == 'u')
        *(unsigned long *)d->p = strtoul(v, &end, 10);
    else
        *(double *)d->p = strtod(v, &end);
    return errno == 0 && end != v && *end == '\0' &&
                   (d->type == 'D' || v[0] != '-')
               ? 0
               : -1;
}

int
opts_parse(const struct optdef *defs, size_t n, int argc, char **argv,
           int first, const char *tool)
{
    for (int i = first; i < argc; i += 2) {
        size_t k = 0;
        while (k < n && strcmp(defs[k].name, argv[i]) != 0)
            k++;
        if (k == n || i + 1 >= argc || opt_set(&defs[k], argv[i + 1])) {
            fprintf(stderr, "%s: bad option %s\n", tool, argv[i]);
            return -1;
        }
    }
    return 0;
}
