/*
 * zk_trace: a plain C client of the official ZooKeeper C library, driven by
 * commands on stdin, printing every global-watcher call on stdout. The
 * fidelity tests run the same scenario through it and through zkha's Rust
 * wrapper (linked to the very same library) and compare what each sees.
 *
 * usage: zk_trace HOSTS TIMEOUT_MS [LOG_LEVEL LOG_FILE]
 *   LOG_LEVEL: 1 error, 2 warn, 3 info, 4 debug; LOG_FILE: append C log lines there.
 * commands (one per line), each answered by one line:
 *   init                 zookeeper_init(HOSTS, watcher, TIMEOUT_MS, NULL, ctx, 0)  -> "init ok" | "init errno N"
 *   init_id HEX:PASSWD   the same with a saved clientid                          -> "init ok" | ...
 *   wait_connected       until SESSION/CONNECTED (10 s)                          -> "connected" | "timeout"
 *   exists PATH          zoo_exists(zh, PATH, 1, &stat)                          -> "rc N"
 *   get PATH             zoo_get(zh, PATH, 1, buf, &len, &stat)                  -> "rc N"
 *   children PATH        zoo_get_children(zh, PATH, 1, &strings)                 -> "rc N"
 *   create_eph PATH DATA zoo_create(..., DATA + NUL, ZOO_EPHEMERAL)               -> "rc N"
 *   create PATH DATA     zoo_create(..., DATA + NUL, ZOO_PERSISTENT)              -> "rc N"
 *   recv_timeout         zoo_recv_timeout(zh): the negotiated session timeout    -> "timeout N"
 *   getdata PATH         zoo_get without watch   -> "data HEX owner 0xID" | "rc N"
 *   clientid             -> "clientid 0xID:PASSWDHEX"
 *   close                zookeeper_close                                         -> "rc N"
 *   quit
 * events: "event TYPE STATE PATH" (PATH "-" when empty)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zookeeper.h>

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t connected_cond = PTHREAD_COND_INITIALIZER;
static int connected = 0;
static zhandle_t *zh = NULL;
static const char *hosts;
static int timeout_ms;

static void say(const char *fmt, const char *a, long b)
{
    pthread_mutex_lock(&out_lock);
    if (a)
        printf(fmt, a, b);
    else
        printf(fmt, b);
    fflush(stdout);
    pthread_mutex_unlock(&out_lock);
}

static void watcher(zhandle_t *h, int type, int state, const char *path, void *ctx)
{
    (void)h;
    (void)ctx;
    pthread_mutex_lock(&out_lock);
    printf("event %d %d %s\n", type, state, (path && *path) ? path : "-");
    fflush(stdout);
    if (type == ZOO_SESSION_EVENT && state == ZOO_CONNECTED_STATE)
        connected = 1;
    else if (type == ZOO_SESSION_EVENT)
        connected = 0;
    pthread_cond_broadcast(&connected_cond);
    pthread_mutex_unlock(&out_lock);
}

static void do_init(const clientid_t *id)
{
    zh = zookeeper_init(hosts, watcher, timeout_ms, id, (void *)&zh, 0);
    if (zh)
        say("init ok\n", NULL, 0);
    else
        say("init errno %ld\n", NULL, errno);
}

static int parse_id(const char *text, clientid_t *id)
{
    const char *colon = strchr(text, ':');
    int i;
    if (!colon || strlen(colon + 1) < 32)
        return -1;
    id->client_id = (int64_t)strtoull(text, NULL, 16);
    for (i = 0; i < 16; i++) {
        char byte[3] = {colon[1 + 2 * i], colon[2 + 2 * i], 0};
        id->passwd[i] = (char)strtol(byte, NULL, 16);
    }
    return 0;
}

int main(int argc, char **argv)
{
    char line[4096];
    if (argc < 3) {
        fprintf(stderr, "usage: zk_trace HOSTS TIMEOUT_MS [LOG_LEVEL LOG_FILE]\n");
        return 2;
    }
    hosts = argv[1];
    timeout_ms = atoi(argv[2]);
    if (argc >= 5) {
        FILE *log = fopen(argv[4], "a");
        if (!log) {
            perror(argv[4]);
            return 2;
        }
        zoo_set_debug_level((ZooLogLevel)atoi(argv[3]));
        zoo_set_log_stream(log);
    } else {
        zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
    }
    while (fgets(line, sizeof line, stdin)) {
        char cmd[64] = "", arg[2048] = "", arg2[1024] = "";
        struct Stat stat;
        line[strcspn(line, "\n")] = 0;
        sscanf(line, "%63s %2047s %1023s", cmd, arg, arg2);
        if (!strcmp(cmd, "init")) {
            do_init(NULL);
        } else if (!strcmp(cmd, "init_id")) {
            clientid_t id;
            memset(&id, 0, sizeof id);
            if (parse_id(arg, &id) == 0)
                do_init(&id);
            else
                say("bad id\n", NULL, 0);
        } else if (!strcmp(cmd, "wait_connected")) {
            struct timespec until;
            int ok;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 10;
            pthread_mutex_lock(&out_lock);
            while (!connected && pthread_cond_timedwait(&connected_cond, &out_lock, &until) == 0) {
            }
            ok = connected;
            pthread_mutex_unlock(&out_lock);
            say(ok ? "connected\n" : "timeout\n", NULL, 0);
        } else if (!strcmp(cmd, "exists")) {
            say("rc %ld\n", NULL, zoo_exists(zh, arg, 1, &stat));
        } else if (!strcmp(cmd, "get")) {
            char buf[1024];
            int len = sizeof buf;
            say("rc %ld\n", NULL, zoo_get(zh, arg, 1, buf, &len, &stat));
        } else if (!strcmp(cmd, "children")) {
            struct String_vector v;
            int rc = zoo_get_children(zh, arg, 1, &v);
            if (rc == ZOK)
                deallocate_String_vector(&v);
            say("rc %ld\n", NULL, rc);
        } else if (!strcmp(cmd, "getdata")) {
            char buf[1024];
            int len = sizeof buf, i, rc = zoo_get(zh, arg, 0, buf, &len, &stat);
            pthread_mutex_lock(&out_lock);
            if (rc != ZOK) {
                printf("rc %d\n", rc);
            } else {
                printf("data ");
                for (i = 0; i < len; i++)
                    printf("%02x", (unsigned char)buf[i]);
                printf(" owner 0x%llx\n", (unsigned long long)stat.ephemeralOwner);
            }
            fflush(stdout);
            pthread_mutex_unlock(&out_lock);
        } else if (!strcmp(cmd, "create_eph")) {
            say("rc %ld\n", NULL,
                zoo_create(zh, arg, arg2, (int)strlen(arg2) + 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0));
        } else if (!strcmp(cmd, "create")) {
            say("rc %ld\n", NULL,
                zoo_create(zh, arg, arg2, (int)strlen(arg2) + 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0));
        } else if (!strcmp(cmd, "recv_timeout")) {
            say("timeout %ld\n", NULL, zoo_recv_timeout(zh));
        } else if (!strcmp(cmd, "clientid")) {
            const clientid_t *id = zoo_client_id(zh);
            int i;
            pthread_mutex_lock(&out_lock);
            printf("clientid 0x%llx:", (unsigned long long)id->client_id);
            for (i = 0; i < 16; i++)
                printf("%02x", (unsigned char)id->passwd[i]);
            printf("\n");
            fflush(stdout);
            pthread_mutex_unlock(&out_lock);
        } else if (!strcmp(cmd, "close")) {
            int rc = zookeeper_close(zh);
            zh = NULL;
            say("rc %ld\n", NULL, rc);
        } else if (!strcmp(cmd, "quit")) {
            break;
        } else {
            say("unknown command\n", NULL, 0);
        }
    }
    if (zh)
        zookeeper_close(zh);
    return 0;
}
