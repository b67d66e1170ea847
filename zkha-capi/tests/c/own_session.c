/*
 * The C API on its own sessions: bad input gives typed codes and messages
 * (never a crash), a panic comes back as ZKHA_ERR_PANIC, two electors in one
 * process elect one master, resign hands over, and the callbacks are called
 * with their user data (and may query, not free, their elector).
 *
 * usage: own_session HOSTS PATH   (PATH: a fresh parent, e.g. /t/abc)
 */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "zkha.h"

/* Not in the header: a test hook that panics inside the guard. */
int zkha__panic_for_tests(void);

struct rec {
    const char *name;
    pthread_mutex_t mu;
    zkha_elector *self; /* set once started; read by the callbacks */
    int became, lost, last_reason;
    int64_t token;
    int master_in_callback;   /* zkha_elector_is_master from `became` */
    int free_in_callback;     /* zkha_elector_free's rc from `lost` */
    int wait_in_callback;     /* zkha_elector_wait_master's rc from `lost` */
};

static void on_became(void *user_data, int64_t token) {
    struct rec *r = user_data;
    pthread_mutex_lock(&r->mu);
    r->became++;
    r->token = token;
    zkha_elector *self = __atomic_load_n(&r->self, __ATOMIC_ACQUIRE);
    if (self != NULL) r->master_in_callback = zkha_elector_is_master(self);
    pthread_mutex_unlock(&r->mu);
    printf("  %s: became master, token %lld\n", r->name, (long long)token);
}

static void on_lost(void *user_data, int reason) {
    struct rec *r = user_data;
    pthread_mutex_lock(&r->mu);
    r->lost++;
    r->last_reason = reason;
    zkha_elector *self = __atomic_load_n(&r->self, __ATOMIC_ACQUIRE);
    if (self != NULL && reason == ZKHA_LOST_RESIGNED) {
        r->free_in_callback = zkha_elector_free(self);
        r->wait_in_callback = zkha_elector_wait_master(self, 0);
    }
    pthread_mutex_unlock(&r->mu);
    printf("  %s: lost master, reason %d\n", r->name, reason);
}

static void bad_input(const char *hosts) {
    zkha_config *cfg = NULL;
    printf("bad input:\n");
    EXPECT_RC(zkha_config_new(NULL, "/a", ZKHA_PROFILE_SAFE, &cfg), ZKHA_ERR_NULL);
    expect_message("hosts is NULL");
    EXPECT_RC(zkha_config_new("", "/a", ZKHA_PROFILE_SAFE, &cfg), ZKHA_ERR_HOSTS);
    expect_message("zkha_config_new");
    EXPECT_RC(zkha_config_new(hosts, "master", ZKHA_PROFILE_SAFE, &cfg), ZKHA_ERR_PATH);
    expect_message("master");
    EXPECT_RC(zkha_config_new(hosts, "/", ZKHA_PROFILE_SAFE, &cfg), ZKHA_ERR_PATH);
    EXPECT_RC(zkha_config_new(hosts, "/a\xff", ZKHA_PROFILE_SAFE, &cfg), ZKHA_ERR_UTF8);
    expect_message("path is not UTF-8");
    EXPECT_RC(zkha_config_new(hosts, "/a", 7, &cfg), ZKHA_ERR_INVALID);
    expect_message("unknown profile 7");
    EXPECT_RC(zkha_config_new(hosts, "/a", ZKHA_PROFILE_SAFE, NULL), ZKHA_ERR_NULL);
    expect_message("out is NULL");
    EXPECT(cfg == NULL);

    EXPECT_RC(zkha_config_new(hosts, "/a/b", ZKHA_PROFILE_SAFE, &cfg), ZKHA_OK);
    EXPECT(cfg != NULL);
    EXPECT_RC(zkha_config_set_session_timeout_ms(cfg, 0), ZKHA_ERR_BAD_TIMEOUT);
    expect_message("session timeout");
    EXPECT_RC(zkha_config_set_poll_interval_ms(cfg, 0), ZKHA_ERR_BAD_TIMEOUT);
    EXPECT_RC(zkha_config_set_mode(cfg, 42), ZKHA_ERR_INVALID);
    expect_message("unknown mode 42");
    EXPECT_RC(zkha_config_set_priority(cfg, 2000000), ZKHA_ERR_INVALID);
    EXPECT_RC(zkha_config_set_digest(cfg, "no-colon"), ZKHA_ERR_AUTH);
    EXPECT_RC(zkha_config_set_tls(cfg, "/nonexistent/ca.pem", "/nonexistent/c.pem",
                                  "/nonexistent/k.pem", NULL),
              ZKHA_ERR_AUTH);
    EXPECT_RC(zkha_config_set_sasl(cfg, "digest md5", "u", "secret-pw", NULL, NULL),
              ZKHA_ERR_AUTH);
    {
        /* The password never shows in a message. */
        char msg[512];
        zkha_last_error_message(msg, sizeof msg);
        EXPECT(strstr(msg, "secret-pw") == NULL);
    }
    EXPECT_RC(zkha_config_set_data(cfg, NULL, 3), ZKHA_ERR_NULL);
    EXPECT_RC(zkha_config_set_name(cfg, NULL), ZKHA_ERR_NULL);
    /* A refused setting changed nothing: the config still starts. */
    EXPECT_RC(zkha_config_set_session_timeout_ms(cfg, 4000), ZKHA_OK);
    zkha_config_free(cfg);
    zkha_config_free(NULL);

    /* The seed profile refuses what the design does not do. */
    EXPECT_RC(zkha_config_new(hosts, "/a/b", ZKHA_PROFILE_SEED, &cfg), ZKHA_OK);
    EXPECT_RC(zkha_config_set_mode(cfg, ZKHA_MODE_WATCH), ZKHA_ERR_INVALID);
    expect_message("seed profile");
    zkha_config_free(cfg);

    /* NULL handles. */
    int64_t v = 0;
    EXPECT_RC(zkha_elector_is_master(NULL), ZKHA_ERR_NULL);
    EXPECT_RC(zkha_elector_token(NULL, &v), ZKHA_ERR_NULL);
    EXPECT_RC(zkha_elector_resign(NULL), ZKHA_ERR_NULL);
    EXPECT_RC(zkha_elector_stop(NULL), ZKHA_ERR_NULL);
    EXPECT_RC(zkha_elector_start(NULL, NULL, NULL, NULL, NULL), ZKHA_ERR_NULL);
    EXPECT_RC(zkha_elector_start_on_handle(NULL, NULL, NULL, NULL, NULL, NULL), ZKHA_ERR_NULL);
    expect_message("zh is NULL");
    EXPECT_RC(zkha_elector_free(NULL), ZKHA_OK);

    /* The message buffer: cut like snprintf, full length returned. */
    EXPECT_RC(zkha_config_new("", "/a", ZKHA_PROFILE_SAFE, &cfg), ZKHA_ERR_HOSTS);
    size_t full = zkha_last_error_message(NULL, 0);
    char small[8];
    EXPECT(zkha_last_error_message(small, sizeof small) == full);
    EXPECT(full > sizeof small && strlen(small) == sizeof small - 1);
    EXPECT(strcmp(zkha_strerror(ZKHA_ERR_HOSTS), "bad hosts string") == 0);

    /* A panic inside zkha comes back as a code and a message. */
    EXPECT_RC(zkha__panic_for_tests(), ZKHA_ERR_PANIC);
    expect_message("panicked");
    printf("bad input: ok\n");
}

static zkha_elector *start(const char *hosts, const char *path, struct rec *r) {
    zkha_config *cfg = NULL;
    EXPECT_RC(zkha_config_new(hosts, path, ZKHA_PROFILE_SAFE, &cfg), ZKHA_OK);
    EXPECT_RC(zkha_config_set_name(cfg, r->name), ZKHA_OK);
    EXPECT_RC(zkha_config_set_data(cfg, (const uint8_t *)r->name, strlen(r->name) + 1), ZKHA_OK);
    EXPECT_RC(zkha_config_set_session_timeout_ms(cfg, 4000), ZKHA_OK);
    zkha_elector *e = NULL;
    EXPECT_RC(zkha_elector_start(cfg, on_became, on_lost, r, &e), ZKHA_OK);
    zkha_config_free(cfg); /* the elector holds a copy */
    __atomic_store_n(&r->self, e, __ATOMIC_RELEASE);
    return e;
}

/* Waits (up to 60 s, a bound against a hang) until `*count` reaches `want`
   under `mu`: a callback runs just after the state it reports is visible
   to zkha_elector_is_master / _wait_master. */
static void wait_count(pthread_mutex_t *mu, int *count, int want) {
    for (int i = 0; i < 6000; i++) {
        pthread_mutex_lock(mu);
        int n = *count;
        pthread_mutex_unlock(mu);
        if (n >= want) return;
        usleep(10000);
    }
    fail("a callback never came", 0);
}

/* Waits (up to about 60 s, not a timing assertion: a bound against a
   hang) until one of the two is master; returns its index. */
static int wait_one_master(zkha_elector *e[2]) {
    for (int i = 0; i < 600; i++) {
        for (int k = 0; k < 2; k++) {
            int rc = zkha_elector_wait_master(e[k], 50);
            if (rc < 0) fail("zkha_elector_wait_master", rc);
            if (rc == 1) return k;
        }
    }
    fail("no master", 0);
    return -1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: own_session HOSTS PATH\n");
        return 2;
    }
    const char *hosts = argv[1];
    char path[512];
    snprintf(path, sizeof path, "%s/master", argv[2]);
    printf("zkha %s\n", zkha_version());
    bad_input(hosts);

    struct rec recs[2] = {
        {.name = "c-one", .mu = PTHREAD_MUTEX_INITIALIZER},
        {.name = "c-two", .mu = PTHREAD_MUTEX_INITIALIZER},
    };
    zkha_elector *e[2] = {start(hosts, path, &recs[0]), start(hosts, path, &recs[1])};

    int m = wait_one_master(e);
    int s = 1 - m;
    printf("master: %s\n", recs[m].name);
    EXPECT(zkha_elector_is_master(e[m]) == 1);
    EXPECT(zkha_elector_is_master(e[s]) == 0);
    int64_t token = 0, left = -2, sid = 0;
    EXPECT_RC(zkha_elector_token(e[m], &token), ZKHA_OK);
    EXPECT(token > 0);
    EXPECT_RC(zkha_elector_token(e[s], &left), ZKHA_ERR_NOT_MASTER);
    EXPECT_RC(zkha_elector_lease_remaining_ms(e[m], &left), ZKHA_OK);
    EXPECT(left >= 0);
    EXPECT_RC(zkha_elector_session_id(e[m], &sid), ZKHA_OK);
    EXPECT(sid != 0);
    wait_count(&recs[m].mu, &recs[m].became, 1);
    pthread_mutex_lock(&recs[m].mu);
    EXPECT(recs[m].became == 1 && recs[m].token == token);
    pthread_mutex_unlock(&recs[m].mu);
    pthread_mutex_lock(&recs[s].mu);
    EXPECT(recs[s].became == 0);
    pthread_mutex_unlock(&recs[s].mu);

    /* Resign: the other takes over (the resigner sits out its backoff). */
    EXPECT_RC(zkha_elector_resign(e[m]), ZKHA_OK);
    int rc = zkha_elector_wait_master(e[s], 60000);
    if (rc != 1) fail("the standby did not take over", rc);
    printf("master after resign: %s\n", recs[s].name);
    int64_t token2 = 0;
    EXPECT_RC(zkha_elector_token(e[s], &token2), ZKHA_OK);
    EXPECT(token2 > token);
    wait_count(&recs[m].mu, &recs[m].lost, 1);
    wait_count(&recs[s].mu, &recs[s].became, 1);
    pthread_mutex_lock(&recs[m].mu);
    EXPECT(recs[m].lost == 1 && recs[m].last_reason == ZKHA_LOST_RESIGNED);
    EXPECT(recs[m].free_in_callback == ZKHA_ERR_IN_CALLBACK);
    EXPECT(recs[m].wait_in_callback == ZKHA_ERR_IN_CALLBACK);
    pthread_mutex_unlock(&recs[m].mu);
    pthread_mutex_lock(&recs[s].mu);
    EXPECT(recs[s].became == 1 && recs[s].token == token2);
    pthread_mutex_unlock(&recs[s].mu);

    /* Stop and free: the master reports the shutdown; none after free. */
    EXPECT_RC(zkha_elector_free(e[s]), ZKHA_OK);
    EXPECT_RC(zkha_elector_free(e[m]), ZKHA_OK);
    EXPECT(recs[s].lost == 1 && recs[s].last_reason == ZKHA_LOST_SHUTDOWN);
    EXPECT(recs[m].lost == recs[m].became);

    /* The seed profile: its election runs on a thread of zkha's. */
    struct rec seed = {.name = "c-seed", .mu = PTHREAD_MUTEX_INITIALIZER};
    char seed_path[600];
    snprintf(seed_path, sizeof seed_path, "%s/seed", argv[2]); /* the parent exists */
    zkha_config *cfg = NULL;
    EXPECT_RC(zkha_config_new(hosts, seed_path, ZKHA_PROFILE_SEED, &cfg), ZKHA_OK);
    zkha_elector *se = NULL;
    EXPECT_RC(zkha_elector_start(cfg, on_became, on_lost, &seed, &se), ZKHA_OK);
    __atomic_store_n(&seed.self, se, __ATOMIC_RELEASE);
    rc = zkha_elector_wait_master(se, 60000);
    if (rc != 1) fail("the seed elector did not become master", rc);
    EXPECT_RC(zkha_elector_lease_remaining_ms(se, &left), ZKHA_OK);
    EXPECT(left == -1); /* the seed design has no lease */
    wait_count(&seed.mu, &seed.became, 1);
    EXPECT_RC(zkha_elector_free(se), ZKHA_OK);
    printf("seed profile: master, then freed\n");

    zkha_config_free(cfg);
    printf("own_session: ok\n");
    return 0;
}
