/*
 * One copy of the C client: this program includes the C client's own
 * zookeeper.h, links only libzkha, calls zookeeper_init itself, starts a
 * zkha elector on that very zhandle_t, and uses the handle for its own
 * calls. It shows that
 *   - zookeeper_init, zoo_create, ... resolve into libzkha (dladdr);
 *   - the elector's session is the handle's (zoo_client_id);
 *   - the master node's ephemeral owner is that session, and so is the
 *     owner of the program's own ephemeral node;
 *   - the program's watcher keeps receiving its events while the elector
 *     runs on the handle;
 *   - freeing the elector releases the master node and leaves the handle
 *     usable;
 *   - after the session expires (ended here from outside: a second handle
 *     on the same session id and password, closed) a new elector on that
 *     handle reports the loss and stops; re-initialising is the program's.
 *
 * usage: one_copy HOSTS PATH   (PATH: a fresh parent, e.g. /t/abc)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <zookeeper.h>
#include "check.h"
#include "zkha.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int connected_events, created_events;
static int became, lost, lost_reason;
static int64_t became_token;

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
    (void)zh;
    (void)ctx;
    (void)path;
    pthread_mutex_lock(&mu);
    if (type == ZOO_SESSION_EVENT && state == ZOO_CONNECTED_STATE) connected_events++;
    if (type == ZOO_CREATED_EVENT) created_events++;
    pthread_mutex_unlock(&mu);
}

static void on_became(void *user_data, int64_t token) {
    pthread_mutex_lock(&mu);
    became += *(int *)user_data;
    became_token = token;
    pthread_mutex_unlock(&mu);
}

static void on_lost(void *user_data, int reason) {
    (void)user_data;
    pthread_mutex_lock(&mu);
    lost++;
    lost_reason = reason;
    pthread_mutex_unlock(&mu);
}

static int count(int *n) {
    pthread_mutex_lock(&mu);
    int v = *n;
    pthread_mutex_unlock(&mu);
    return v;
}

/* Which shared object defines this address. */
static const char *object_of(void *address) {
    Dl_info info;
    if (dladdr(address, &info) == 0 || info.dli_fname == NULL) return "?";
    return info.dli_fname;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: one_copy HOSTS PATH\n");
        return 2;
    }
    const char *hosts = argv[1];
    char master[512], own[512], watched[512];
    snprintf(master, sizeof master, "%s/master", argv[2]);
    snprintf(own, sizeof own, "%s/own", argv[2]);
    snprintf(watched, sizeof watched, "%s/watched", argv[2]);

    /* The C client's functions are libzkha's. */
    const char *lib = object_of((void *)&zookeeper_init);
    printf("zookeeper_init is in %s\n", lib);
    EXPECT(strstr(lib, "libzkha") != NULL);
    EXPECT(strcmp(object_of((void *)&zoo_create), lib) == 0);
    EXPECT(strcmp(object_of((void *)&zkha_elector_start_on_handle), lib) == 0);
    EXPECT(strcmp(object_of((void *)&zoo_set_debug_level), lib) == 0);

    zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
    zhandle_t *zh = zookeeper_init(hosts, watcher, 10000, NULL, NULL, 0);
    EXPECT(zh != NULL);
    /* Up to 60 s to connect: a bound against a hang, not a timing assert. */
    for (int i = 0; i < 600 && zoo_state(zh) != ZOO_CONNECTED_STATE; i++) usleep(100000);
    EXPECT(zoo_state(zh) == ZOO_CONNECTED_STATE);
    int64_t client_id = zoo_client_id(zh)->client_id;
    printf("session 0x%llx\n", (long long)client_id);

    zkha_config *cfg = NULL;
    EXPECT_RC(zkha_config_new(hosts, master, ZKHA_PROFILE_SAFE, &cfg), ZKHA_OK);
    EXPECT_RC(zkha_config_set_data(cfg, (const uint8_t *)"c-one-copy", 11), ZKHA_OK);
    zkha_elector *e = NULL;
    int one = 1;
    EXPECT_RC(zkha_elector_start_on_handle(zh, cfg, on_became, NULL, &one, &e), ZKHA_OK);
    zkha_config_free(cfg);

    int rc = zkha_elector_wait_master(e, 60000);
    if (rc != 1) fail("zkha_elector_wait_master", rc);
    int64_t sid = 0, token = 0;
    EXPECT_RC(zkha_elector_session_id(e, &sid), ZKHA_OK);
    EXPECT_RC(zkha_elector_token(e, &token), ZKHA_OK);
    printf("elector: session 0x%llx, token %lld\n", (long long)sid, (long long)token);
    EXPECT(sid == client_id);
    EXPECT(sid == zoo_client_id(zh)->client_id);

    /* The program's own calls on the same handle see the elector's node. */
    struct Stat st;
    memset(&st, 0, sizeof st);
    EXPECT_RC(zoo_exists(zh, master, 0, &st), ZOK);
    printf("master node: ephemeralOwner 0x%llx, czxid %lld\n",
           (long long)st.ephemeralOwner, (long long)st.czxid);
    EXPECT(st.ephemeralOwner == client_id);
    EXPECT(st.czxid == token);
    char data[64];
    int len = sizeof data;
    EXPECT_RC(zoo_get(zh, master, 0, data, &len, NULL), ZOK);
    EXPECT(len == 11 && memcmp(data, "c-one-copy", 11) == 0);

    char made[512];
    EXPECT_RC(zoo_create(zh, own, "mine", 4, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, made,
                         sizeof made),
              ZOK);
    EXPECT_RC(zoo_exists(zh, own, 0, &st), ZOK);
    EXPECT(st.ephemeralOwner == client_id);

    /* The program's watcher still gets its events. */
    EXPECT_RC(zoo_exists(zh, watched, 1, &st), ZNONODE);
    EXPECT_RC(zoo_create(zh, watched, "w", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0),
              ZOK);
    for (int i = 0; i < 600; i++) {
        pthread_mutex_lock(&mu);
        int n = created_events < 1 ? 0 : became;
        pthread_mutex_unlock(&mu);
        if (n > 0) break;
        usleep(100000);
    }
    pthread_mutex_lock(&mu);
    EXPECT(connected_events >= 1);
    EXPECT(created_events == 1);
    EXPECT(became == 1 && became_token == token);
    pthread_mutex_unlock(&mu);

    /* Freeing the elector releases the master node; the handle stays ours. */
    EXPECT_RC(zkha_elector_free(e), ZKHA_OK);
    EXPECT(zoo_state(zh) == ZOO_CONNECTED_STATE);
    EXPECT_RC(zoo_exists(zh, master, 0, &st), ZNONODE);
    EXPECT_RC(zoo_exists(zh, own, 0, &st), ZOK);

    /* A second elector on the same handle; then the session expires. */
    EXPECT_RC(zkha_config_new(hosts, master, ZKHA_PROFILE_SAFE, &cfg), ZKHA_OK);
    EXPECT_RC(zkha_elector_start_on_handle(zh, cfg, on_became, on_lost, &one, &e), ZKHA_OK);
    zkha_config_free(cfg);
    rc = zkha_elector_wait_master(e, 60000);
    if (rc != 1) fail("zkha_elector_wait_master (second elector)", rc);
    zhandle_t *twin = zookeeper_init(hosts, NULL, 10000, zoo_client_id(zh), NULL, 0);
    EXPECT(twin != NULL);
    for (int i = 0; i < 600 && zoo_state(twin) != ZOO_CONNECTED_STATE; i++) usleep(100000);
    EXPECT(zoo_state(twin) == ZOO_CONNECTED_STATE);
    EXPECT_RC(zookeeper_close(twin), ZOK);
    /* The elector reports the loss and stops (bounded waits, no timing). */
    for (int i = 0; i < 600 && count(&lost) == 0; i++) usleep(100000);
    EXPECT(count(&lost) == 1);
    printf("lost master after the expiry, reason %d\n", count(&lost_reason));
    for (int i = 0; i < 60 && (rc = zkha_elector_wait_master(e, 1000)) >= 0; i++) {
    }
    EXPECT(rc == ZKHA_ERR_STOPPED);
    {
        char msg[512];
        zkha_last_error_message(msg, sizeof msg);
        printf("after the expiry: %s\n", msg);
    }
    EXPECT(zkha_elector_is_master(e) == 0);
    EXPECT(zoo_state(zh) == ZOO_EXPIRED_SESSION_STATE);
    EXPECT_RC(zkha_elector_free(e), ZKHA_OK);
    EXPECT_RC(zookeeper_close(zh), ZOK);
    printf("one_copy: ok\n");
    return 0;
}
