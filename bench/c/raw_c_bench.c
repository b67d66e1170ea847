/*
 * raw_c_bench: the yardstick of `make bench`. Plain C against the official
 * ZooKeeper C client (the copy zk-sys builds): synchronous create / get / set
 * / delete and pipelined asynchronous get, timed the same way as the other
 * clients. Prints one JSON object of ops/s.
 *
 * usage: raw_c_bench HOSTS N WINDOW PREFIX   (N ops of each kind; WINDOW async gets in flight)
 *        raw_c_bench HOSTS rss                (connect, then print VmRSS in kB, idle)
 *        raw_c_bench HOSTS probe OP N WINDOW PATH
 *            (OP = get | async_get: N ops on one node PATH, created and
 *            deleted here; nothing printed. For `strace -f -c` / `perf stat`
 *            counts per op: run N and 0, subtract; see bench/probe.sh.
 *            RESOLVE_DELAY_MS in the environment: zoo_set_servers_resolution_delay
 *            first, to show what the C client's per-poll host resolution costs)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zookeeper.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int connected = 0;
static long in_flight = 0, done = 0, failed = 0;

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    (void)zh; (void)path; (void)ctx;
    if (type == ZOO_SESSION_EVENT && state == ZOO_CONNECTED_STATE) {
        pthread_mutex_lock(&mu);
        connected = 1;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void got(int rc, const char *value, int len, const struct Stat *stat, const void *data)
{
    (void)value; (void)len; (void)stat; (void)data;
    pthread_mutex_lock(&mu);
    in_flight--;
    done++;
    if (rc != ZOK) failed++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static long vm_rss_kb(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kb = atol(line + 6);
    fclose(f);
    return kb;
}

static void check(int rc, const char *what)
{
    if (rc != ZOK) {
        fprintf(stderr, "raw_c_bench: %s: %s\n", what, zerror(rc));
        exit(1);
    }
}

/* N gets (sync or pipelined) of one node: the probe of bench/probe.sh. */
static int probe(zhandle_t *zh, const char *op, int n, int window, const char *path)
{
    char value[100], buf[1024];
    int i, len;
    struct Stat stat;
    const char *delay = getenv("RESOLVE_DELAY_MS");
    if (delay) check(zoo_set_servers_resolution_delay(zh, atoi(delay)), "resolution delay");
    memset(value, 'v', sizeof value);
    check(zoo_create(zh, path, value, sizeof value, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), "create");
    for (i = 0; i < n; i++) {
        if (!strcmp(op, "get")) {
            len = sizeof buf;
            check(zoo_get(zh, path, 0, buf, &len, &stat), "get");
            continue;
        }
        pthread_mutex_lock(&mu);
        while (in_flight >= window) pthread_cond_wait(&cv, &mu);
        in_flight++;
        pthread_mutex_unlock(&mu);
        check(zoo_aget(zh, path, 0, got, NULL), "aget");
    }
    pthread_mutex_lock(&mu);
    while (in_flight > 0) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    check(zoo_delete(zh, path, -1), "delete");
    zookeeper_close(zh);
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    zhandle_t *zh;
    int n, window, i;
    char path[512], value[100];
    double t;
    if (argc < 3) {
        fprintf(stderr, "usage: raw_c_bench HOSTS N WINDOW PREFIX | raw_c_bench HOSTS rss\n");
        return 2;
    }
    zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
    zh = zookeeper_init(argv[1], watcher, 10000, NULL, NULL, 0);
    if (!zh) { perror("zookeeper_init"); return 1; }
    pthread_mutex_lock(&mu);
    while (!connected) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    if (!strcmp(argv[2], "rss")) {
        usleep(300000);
        printf("{\"rss_kb\":%ld}\n", vm_rss_kb());
        zookeeper_close(zh);
        return 0;
    }
    if (!strcmp(argv[2], "probe")) {
        if (argc < 7) return 2;
        return probe(zh, argv[3], atoi(argv[4]), atoi(argv[5]), argv[6]);
    }
    if (argc < 5) return 2;
    n = atoi(argv[2]);
    window = atoi(argv[3]);
    memset(value, 'v', sizeof value);
    check(zoo_create(zh, argv[4], NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), "create prefix");

    printf("{");
    t = now_s();
    for (i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/n%d", argv[4], i);
        check(zoo_create(zh, path, value, sizeof value, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), "create");
    }
    printf("\"create\":%.1f,", n / (now_s() - t));
    t = now_s();
    for (i = 0; i < n; i++) {
        char buf[1024];
        int len = sizeof buf;
        struct Stat stat;
        snprintf(path, sizeof path, "%s/n%d", argv[4], i);
        check(zoo_get(zh, path, 0, buf, &len, &stat), "get");
    }
    printf("\"get\":%.1f,", n / (now_s() - t));
    t = now_s();
    for (i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/n%d", argv[4], i);
        check(zoo_set(zh, path, value, sizeof value, -1), "set");
    }
    printf("\"set\":%.1f,", n / (now_s() - t));
    /* pipelined async gets: WINDOW in flight at any time */
    t = now_s();
    for (i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/n%d", argv[4], i);
        pthread_mutex_lock(&mu);
        while (in_flight >= window) pthread_cond_wait(&cv, &mu);
        in_flight++;
        pthread_mutex_unlock(&mu);
        check(zoo_aget(zh, path, 0, got, NULL), "aget");
    }
    pthread_mutex_lock(&mu);
    while (done < n) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    printf("\"async_get\":%.1f,", n / (now_s() - t));
    t = now_s();
    for (i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/n%d", argv[4], i);
        check(zoo_delete(zh, path, -1), "delete");
    }
    printf("\"delete\":%.1f,\"async_failed\":%ld}\n", n / (now_s() - t), failed);
    zoo_delete(zh, argv[4], -1);
    zookeeper_close(zh);
    return 0;
}
