/* SPDX-License-Identifier: MIT */
/* err.c -- names and messages for the error table. */
#include "base/err.h"

#include <string.h>

const char *
xerr_name(int err)
{
    switch (err) {
#define XERR_NAME(name, val, msg)                                             \
    case name:                                                                \
        return #name;
        XERR_MAP(XERR_NAME)
#undef XERR_NAME
    default:
        break;
    }
    if (err == 0)
        return "OK";
    if (err < 0 && err > -4096) {
        const char *n = strerrorname_np(-err);
        return n ? n : "EUNKNOWN";
    }
    return "XE_UNKNOWN";
}

const char *
xerr_str(int err)
{
    switch (err) {
#define XERR_STR(name, val, msg)                                              \
    case name:                                                                \
        return msg;
        XERR_MAP(XERR_STR)
#undef XERR_STR
    default:
        break;
    }
    if (err == 0)
        return "success";
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "unknown error";
}
