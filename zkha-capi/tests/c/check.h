/* Shared by the C API's test programs: fail loudly, with zkha's message. */
#ifndef ZKHA_TEST_CHECK_H
#define ZKHA_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "zkha.h"

static inline void fail(const char *what, int rc) {
    char msg[512];
    zkha_last_error_message(msg, sizeof msg);
    fprintf(stderr, "FAILED: %s: rc=%d (%s); last zkha error: %s\n", what, rc,
            zkha_strerror(rc), msg);
    exit(1);
}

/* The call must return `want`. */
#define EXPECT_RC(call, want)                                                  \
    do {                                                                       \
        int rc_ = (call);                                                      \
        if (rc_ != (want)) fail(#call " != " #want, rc_);                      \
    } while (0)

#define EXPECT(cond)                                                           \
    do {                                                                       \
        if (!(cond)) fail("expected " #cond, 0);                               \
    } while (0)

/* The last error message of this thread must contain `text`. */
static inline void expect_message(const char *text) {
    char msg[512];
    zkha_last_error_message(msg, sizeof msg);
    if (strstr(msg, text) == NULL) {
        fprintf(stderr, "FAILED: message \"%s\" lacks \"%s\"\n", msg, text);
        exit(1);
    }
    printf("  message: %s\n", msg);
}

#endif
