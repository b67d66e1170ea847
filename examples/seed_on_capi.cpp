// The classic master/standby design (docs/design.md, S1-S9), rewritten on
// zkha's C API: the program opens its own ZooKeeper handle as the design
// does (S1), and hands the election to zkha's safe elector on that same
// handle (one session, one copy of the C client: libzkha exports it), so
// it keeps the design's node (its IP and a NUL at PATH, ephemeral) and
// loses its flaws (F1-F10: a lease, a fencing token, errors reported).
//
//   seed_on_capi HOSTS PATH IP WORK_LOG
//
// While master, every 100 ms it appends `work IP TOKEN` to WORK_LOG (the
// design's do_work). It prints `became master token=T` and `lost master
// reason=R` as they happen. SIGTERM or SIGINT: the elector is freed first
// (the node goes at once, so a standby takes over), then the handle is
// closed, as zkha.h asks.
//
// Build (make capi): c++ -std=c++17 -DTHREADED seed_on_capi.cpp
//   $(pkg-config --cflags --libs zkha)
#include <zookeeper.h>
#include <zkha.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

namespace {

std::atomic<bool> stopping{false};

void on_signal(int) { stopping = true; }

// The design's global watcher (S2): the handle is ours; zkha follows the
// session's state itself, so nothing needs forwarding.
void watcher(zhandle_t*, int, int, const char*, void*) {}

void became(void*, int64_t token) {
    std::printf("became master token=%lld\n", static_cast<long long>(token));
    std::fflush(stdout);
}

void lost(void*, int reason) {
    std::printf("lost master reason=%d\n", reason);
    std::fflush(stdout);
}

int fail(const char* what, int rc) {
    char msg[512];
    zkha_last_error_message(msg, sizeof msg);
    std::fprintf(stderr, "seed_on_capi: %s: %s (%d): %s\n", what, zkha_strerror(rc), rc, msg);
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: seed_on_capi HOSTS PATH IP WORK_LOG\n");
        return 2;
    }
    const char* hosts = argv[1];
    const char* path = argv[2];
    const std::string ip = argv[3];
    std::FILE* work = std::fopen(argv[4], "a");
    if (!work) {
        std::perror("seed_on_capi: the work log");
        return 1;
    }
    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);

    // S1: the program's own session (5000 ms asked, no client id).
    zhandle_t* zh = zookeeper_init(hosts, watcher, 5000, nullptr, nullptr, 0);
    if (!zh) {
        std::perror("seed_on_capi: zookeeper_init");
        return 1;
    }
    zkha_config* config = nullptr;
    int rc = zkha_config_new(hosts, path, ZKHA_PROFILE_SAFE, &config);
    if (rc != 0) return fail("config", rc);
    // S5: the node's data is the IP text and its NUL.
    rc = zkha_config_set_data(config, reinterpret_cast<const uint8_t*>(ip.c_str()), ip.size() + 1);
    if (rc != 0) return fail("data", rc);
    rc = zkha_config_set_poll_interval_ms(config, 250);
    if (rc != 0) return fail("poll interval", rc);
    zkha_elector* elector = nullptr;
    rc = zkha_elector_start_on_handle(zh, config, became, lost, nullptr, &elector);
    zkha_config_free(config);
    if (rc != 0) return fail("start", rc);

    // S4's run loop: work while master (the lease-aware is_master).
    while (!stopping) {
        int64_t token = 0;
        if (zkha_elector_is_master(elector) == 1 && zkha_elector_token(elector, &token) == 0) {
            auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now().time_since_epoch())
                           .count();
            std::fprintf(work, "work %s %lld %lld\n", ip.c_str(), static_cast<long long>(token),
                         static_cast<long long>(now));
            std::fflush(work);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    // The elector first (it releases the node), then the handle.
    rc = zkha_elector_free(elector);
    if (rc != 0) return fail("free", rc);
    zookeeper_close(zh);
    std::fclose(work);
    std::printf("left\n");
    return 0;
}
