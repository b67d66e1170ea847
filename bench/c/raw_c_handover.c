/*
 * raw_c_handover: the graceful-handover floor of `make bench`. Plain C
 * against the official ZooKeeper C client (the copy zk-sys builds), no zkha:
 * exactly the three steps of a graceful failover, and nothing else.
 *
 *   1. the holder closes its session (zookeeper_close): a committed
 *      transaction that deletes its ephemeral node;
 *   2. the standby's exists-watch on the node fires (deleted);
 *   3. the standby creates the node (a second committed transaction),
 *      asynchronously, straight from its watcher.
 *
 * t0 is taken just before zookeeper_close, t1 in the standby's create
 * completion (CLOCK_MONOTONIC). Then the roles alternate: the standby holds
 * the node, a fresh handle (connected before the clock starts) watches it.
 * Both handles use the same server and the same session timeout as the
 * candidates they are compared with.
 *
 * usage: raw_c_handover HOSTS PATH SESSION_TIMEOUT_MS N [WARMUP (3)]
 * Prints one JSON object: total_ms (t1 - t0), notify_ms (watcher call - t0),
 * close_ms (zookeeper_close's return - t0), N samples each, in run order.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zookeeper.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

/* One handle's connection state (its global watcher's context). */
struct conn {
    int connected;
};

/* One handover in flight: set by the standby's watcher and completion. */
struct handover {
    const char *path;
    double fired;   /* watcher call */
    double created; /* create completion */
    int rc;         /* the create's result */
    int done;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void session_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    struct conn *c = ctx;
    (void)zh; (void)path;
    if (type == ZOO_SESSION_EVENT && state == ZOO_CONNECTED_STATE) {
        pthread_mutex_lock(&mu);
        c->connected = 1;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
}

static void created(int rc, const char *value, const void *data)
{
    struct handover *h = (struct handover *)data;
    double t = now_ms();
    (void)value;
    pthread_mutex_lock(&mu);
    h->created = t;
    h->rc = rc;
    h->done = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* Step 2 -> 3: on the standby's completion thread, create at once. */
static void node_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    struct handover *h = ctx;
    double t = now_ms();
    int rc;
    (void)state; (void)path;
    if (type == ZOO_SESSION_EVENT) return;
    if (type != ZOO_DELETED_EVENT) {
        pthread_mutex_lock(&mu);
        h->rc = ZSYSTEMERROR;
        h->done = 1;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
        return;
    }
    h->fired = t;
    rc = zoo_acreate(zh, h->path, "x", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, created, h);
    if (rc != ZOK) created(rc, NULL, h);
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "raw_c_handover: %s: %s\n", what, zerror(rc));
    exit(1);
}

/* Waits for `*flag` under `mu`, at most 30 s. */
static void wait_flag(const int *flag, const char *what)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    pthread_mutex_lock(&mu);
    while (!*flag) {
        if (pthread_cond_timedwait(&cv, &mu, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&mu);
            fprintf(stderr, "raw_c_handover: timed out waiting for %s\n", what);
            exit(1);
        }
    }
    pthread_mutex_unlock(&mu);
}

static zhandle_t *connect_one(const char *hosts, int timeout, struct conn *c)
{
    zhandle_t *zh;
    c->connected = 0;
    zh = zookeeper_init(hosts, session_watcher, timeout, NULL, c, 0);
    if (!zh) {
        perror("raw_c_handover: zookeeper_init");
        exit(1);
    }
    wait_flag(&c->connected, "a connection");
    return zh;
}

static void print_array(const char *name, const double *v, int n, int last)
{
    int i;
    printf("\"%s\":[", name);
    for (i = 0; i < n; i++) printf("%s%.4f", i ? "," : "", v[i]);
    printf("]%s", last ? "" : ",");
}

int main(int argc, char **argv)
{
    const char *hosts, *path;
    int timeout, n, warmup, i, rc, idle_min, idle_spread;
    unsigned long long jitter = 0x9e3779b97f4a7c15ULL;
    double *total, *notify, *closed;
    struct conn conns[2];
    zhandle_t *holder, *standby;
    int h = 0; /* index of the holder's conn */
    struct Stat stat;

    if (argc < 5) {
        fprintf(stderr, "usage: raw_c_handover HOSTS PATH SESSION_TIMEOUT_MS N [WARMUP [IDLE_MS [IDLE_SPREAD_MS]]]\n");
        return 2;
    }
    hosts = argv[1];
    path = argv[2];
    timeout = atoi(argv[3]);
    n = atoi(argv[4]);
    warmup = argc > 5 ? atoi(argv[5]) : 3;
    idle_min = argc > 6 ? atoi(argv[6]) : 0;
    idle_spread = argc > 7 ? atoi(argv[7]) : 0;
    if (timeout <= 0 || n <= 0 || warmup < 0 || idle_min < 0 || idle_spread < 0) {
        fprintf(stderr, "raw_c_handover: bad numbers\n");
        return 2;
    }
    total = calloc(n, sizeof *total);
    notify = calloc(n, sizeof *notify);
    closed = calloc(n, sizeof *closed);
    if (!total || !notify || !closed) return 1;
    zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);

    holder = connect_one(hosts, timeout, &conns[h]);
    rc = zoo_create(holder, path, "x", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0);
    if (rc != ZOK) die("create", rc);
    for (i = 0; i < warmup + n; i++) {
        struct handover ho = { path, 0, 0, ZOK, 0 };
        double t0, t_closed;
        /* The standby: connected, its watch set on the existing node. */
        standby = connect_one(hosts, timeout, &conns[1 - h]);
        rc = zoo_wexists(standby, path, node_watcher, &ho, &stat);
        if (rc != ZOK) die("the standby's exists (the node should exist)", rc);
        if (idle_min || idle_spread) {
            /* The peers' cells wait this long before each stop: the same
             * idle server (xorshift64 jitter, as theirs). */
            long ms = idle_min;
            jitter ^= jitter << 13; jitter ^= jitter >> 7; jitter ^= jitter << 17;
            if (idle_spread) ms += (long)(jitter % (unsigned long long)idle_spread);
            struct timespec d = { ms / 1000, (ms % 1000) * 1000000L };
            nanosleep(&d, NULL);
        }
        t0 = now_ms();
        zookeeper_close(holder); /* step 1 */
        t_closed = now_ms();
        wait_flag(&ho.done, "the standby's create");
        if (ho.rc != ZOK) die("the standby's create", ho.rc);
        if (i >= warmup) {
            total[i - warmup] = ho.created - t0;
            notify[i - warmup] = ho.fired - t0;
            closed[i - warmup] = t_closed - t0;
        }
        holder = standby;
        h = 1 - h;
    }
    zookeeper_close(holder);
    printf("{");
    print_array("total_ms", total, n, 0);
    print_array("notify_ms", notify, n, 0);
    print_array("close_ms", closed, n, 1);
    printf("}\n");
    free(total);
    free(notify);
    free(closed);
    return 0;
}
