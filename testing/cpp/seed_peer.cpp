// seed_peer: the C++ reference peer. Our own code, written from the design (docs/design.md),
// following S1-S9 exactly, against the official ZooKeeper C client (the very
// copy zk-sys builds, through its `links` metadata). It is the yardstick of
// the fidelity tests and a real C++ contender in the mixed tests.
//
// usage: seed_peer HOSTS PATH DATA SESSION_TIMEOUT_MS WORK_INTERVAL_MS
//                  [--trace FILE] [--name NAME] [--reinit-limit N]
//                  [--tls-ca FILE --tls-cert FILE --tls-key FILE]
//   DATA is the IP text; the node holds it plus its trailing NUL (S5).
//                  [--sasl-mech MECH --sasl-user USER --sasl-password-file FILE]
//   The --tls-* flags (zkha's own) make S1's call zookeeper_init_ssl, for a
//   TLS-only ensemble (needs the C client built with OpenSSL: zk-sys `ssl`);
//   the --sasl-* flags zookeeper_init_sasl (Cyrus SASL: zk-sys `sasl`).
//   SIGTERM/SIGINT: leave the loop, zookeeper_close, exit 0.
//   --break WHAT (tests of `zkha conform` only; repeatable): one behaviour
//   of the design broken on purpose: `nul` the node data without its
//   trailing NUL (S5), `reinit` no zookeeper_init after an expiry (S3),
//   `poll` the standby's loop sleeps twice WORK_INTERVAL_MS (S4). Without
//   it the peer follows the design exactly.
//   SEED_PEER_PAUSE_AFTER_INIT_MS (environment, tests only): sleep that long
//   between zookeeper_init's return and storing the handle, as a descheduled
//   main thread would; the watcher must not depend on that store.
//
// Trace: one JSON object per line (same format as zkha's elector trace):
//   {"t":<CLOCK_MONOTONIC ms>,"who":...,"pid":...,"event":...,...}
#include <zookeeper.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <unistd.h>

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

class Trace {
public:
    Trace(const char* file, std::string who) : who_(std::move(who)) {
        out_ = file ? (std::strcmp(file, "-") == 0 ? stdout : std::fopen(file, "a")) : nullptr;
        if (file && !out_) {
            std::perror(file);
            std::exit(2);
        }
    }
    // extra: already-formatted JSON fields, starting with ',' (or empty).
    void emit(const char* event, const std::string& extra = "") {
        if (!out_) return;
        double t = std::chrono::duration<double, std::milli>(
                       std::chrono::steady_clock::now().time_since_epoch()).count();
        std::lock_guard<std::mutex> lock(mu_);
        std::fprintf(out_, "{\"t\":%.3f,\"who\":\"%s\",\"pid\":%d,\"event\":\"%s\"%s}\n", t, who_.c_str(),
                     (int)getpid(), event, extra.c_str());
        std::fflush(out_);
    }
private:
    std::FILE* out_;
    std::string who_;
    std::mutex mu_;
};

std::string hex(long long v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)v);
    return buf;
}

// The design's process-wide failure counter (S5).
unsigned long long g_failures = 0;

class ZkMaster {
public:
    ZkMaster(std::string hosts, std::string path, std::string ip, int timeout_ms, int work_ms, Trace& trace,
             int reinit_limit, std::string tls, std::string sasl_mech, std::string sasl_user,
             std::string sasl_password_file, unsigned breaks)
        : breaks_(breaks), hosts_(std::move(hosts)), path_(std::move(path)), ip_(std::move(ip)), timeout_ms_(timeout_ms),
          work_ms_(work_ms), trace_(trace), reinit_limit_(reinit_limit), tls_(std::move(tls)),
          sasl_mech_(std::move(sasl_mech)), sasl_user_(std::move(sasl_user)),
          sasl_password_file_(std::move(sasl_password_file)) {
        std::memset(&clientid_, 0, sizeof clientid_);
    }

    // S1: zookeeper_init(hosts, watcher, 5000, NULL, this, 0). A non-NULL
    // handle is not a connection; only SESSION/CONNECTED is.
    bool init(const clientid_t* id) {
        trace_.emit("init", ",\"clientid\":\"" + hex(id ? id->client_id : 0) + "\"");
        zhandle_t* zh = nullptr;
        if (!sasl_mech_.empty()) {
#ifdef HAVE_CYRUS_SASL_H
            // The same call with SASL: the C client's basic callbacks (user,
            // password file), kept for the process's life.
            static bool sasl_ready = sasl_client_init(nullptr) == SASL_OK;
            if (!sasl_ready) {
                std::fprintf(stderr, "ERROR sasl_client_init failed\n");
                return false;
            }
            if (!sasl_callbacks_)
                sasl_callbacks_ = zoo_sasl_make_basic_callbacks(sasl_user_.c_str(), nullptr,
                                                                sasl_password_file_.c_str());
            zoo_sasl_params_t params = {"zookeeper", "zk-sasl-md5", sasl_mech_.c_str(), sasl_callbacks_};
            zh = zookeeper_init_sasl(hosts_.c_str(), &ZkMaster::watcher, timeout_ms_, id, this, 0, nullptr,
                                     &params);
#else
            std::fprintf(stderr, "ERROR --sasl-*: the C client was built without Cyrus SASL (zk-sys feature sasl)\n");
            return false;
#endif
        } else if (tls_.empty()) {
            zh = zookeeper_init(hosts_.c_str(), &ZkMaster::watcher, timeout_ms_, id, this, 0);
        } else {
#ifdef HAVE_OPENSSL_H
            // The same call over TLS: "ca,cert,key".
            zh = zookeeper_init_ssl(hosts_.c_str(), tls_.c_str(), &ZkMaster::watcher, timeout_ms_, id, this, 0);
#else
            std::fprintf(stderr, "ERROR --tls-*: the C client was built without OpenSSL (zk-sys feature ssl)\n");
            return false;
#endif
        }
        if (!zh) {
            std::fprintf(stderr, "ERROR zookeeper_init failed: %s\n", std::strerror(errno));
            return false;
        }
        if (const char* pause = std::getenv("SEED_PEER_PAUSE_AFTER_INIT_MS")) sleep_ms(std::atoi(pause));
        zh_.store(zh);
        return true;
    }

    // S4: forever: sleep; if not master try change_to_master (skip the pass
    // on failure); then do_work.
    void run() {
        while (!g_stop) {
            sleep_ms((breaks_ & kBreakPoll) && !is_master_ ? 2 * work_ms_ : work_ms_);
            if (g_stop) break;
            if (!is_master_) {
                if (!change_to_master()) continue;
            }
            if (g_stop) break;
            do_work();
        }
        if (is_master_.exchange(false)) trace_.emit("lost_master", ",\"reason\":\"shutdown\"");
        zookeeper_close(zh_.load());
        trace_.emit("exit");
    }

private:
    // S2: the single global watcher.
    // The handle is the watcher's own argument: the first call can come
    // before init() has stored what zookeeper_init returned.
    static void watcher(zhandle_t* zh, int type, int state, const char* path, void* ctx) {
        ZkMaster* self = static_cast<ZkMaster*>(ctx);
        if (type == ZOO_SESSION_EVENT) {
            if (state == ZOO_CONNECTED_STATE) {
                self->on_zookeeper_connected(zh, path);
            } else if (state == ZOO_EXPIRED_SESSION_STATE) {
                self->on_zookeeper_expired();
            }
        }
        // every other event is ignored by the design
    }

    void on_zookeeper_connected(zhandle_t* zh, const char*) {
        reinits_ = 0;
        clientid_ = *zoo_client_id(zh);  // read once connected (S3)
        trace_.emit("connected", ",\"session\":\"" + hex(clientid_.client_id) + "\"");
    }

    // S3: init again with the previous clientid; the old handle is not closed.
    void on_zookeeper_expired() {
        trace_.emit("expired");
        if (is_master_.exchange(false)) trace_.emit("lost_master", ",\"reason\":\"expired\"");
        if (g_stop) return;
        if (breaks_ & kBreakReinit) return;  // --break reinit: the handle stays dead
        if (reinit_limit_ >= 0 && ++reinits_ > reinit_limit_) {
            std::fprintf(stderr, "ERROR session expired and %d re-inits failed: exiting\n", reinit_limit_);
            trace_.emit("exit", ",\"reason\":\"reinit_limit\"");
            std::_Exit(3);
        }
        init(&clientid_);
    }

    // S5: the node data is the IP text including its trailing NUL.
    bool change_to_master() {
        int len = (int)ip_.size() + ((breaks_ & kBreakNul) ? 0 : 1);  // --break nul: no NUL
        int rc = zoo_create(zh_.load(), path_.c_str(), ip_.c_str(), len, &ZOO_OPEN_ACL_UNSAFE,
                            ZOO_EPHEMERAL, NULL, 0);
        trace_.emit("create", ",\"rc\":" + std::to_string(rc));
        if (rc != ZOK) {
            if (g_failures++ % 600 == 0) {
                std::fprintf(stderr, "DEBUG become master[%s] failed: (%d)%s\n", path_.c_str(), rc, zerror(rc));
            }
            return false;
        }
        g_failures = 0;
        is_master_ = true;
        std::fprintf(stderr, "INFO become master[%s] success\n", path_.c_str());
        trace_.emit("became_master", ",\"path\":\"" + path_ + "\",\"token\":0");
        sleep_ms(2000);  // "so the old master can finish"
        return true;
    }

    void do_work() { trace_.emit("work"); }

    static void sleep_ms(int ms) {
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (!g_stop && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }

public:
    static constexpr unsigned kBreakNul = 1, kBreakReinit = 2, kBreakPoll = 4;

private:
    unsigned breaks_;
    std::string hosts_, path_, ip_;
    int timeout_ms_, work_ms_;
    Trace& trace_;
    int reinit_limit_;
    std::string tls_;  // "ca,cert,key" for zookeeper_init_ssl, or empty
    std::string sasl_mech_, sasl_user_, sasl_password_file_;  // SASL, or empty
#ifdef HAVE_CYRUS_SASL_H
    sasl_callback_t* sasl_callbacks_ = nullptr;
#endif
    int reinits_ = 0;
    std::atomic<zhandle_t*> zh_{nullptr};
    clientid_t clientid_;
    std::atomic<bool> is_master_{false};
};

}  // namespace

int main(int argc, char** argv) {
    if (argc < 6) {
        std::fprintf(stderr,
                     "usage: seed_peer HOSTS PATH DATA SESSION_TIMEOUT_MS WORK_INTERVAL_MS "
                     "[--trace FILE] [--name NAME] [--reinit-limit N] "
                     "[--tls-ca FILE --tls-cert FILE --tls-key FILE] "
                     "[--sasl-mech MECH --sasl-user USER --sasl-password-file FILE] "
                     "[--break nul|reinit|poll]\n");
        return 2;
    }
    const char* trace_file = nullptr;
    std::string name = "cpp-peer";
    int reinit_limit = -1;
    std::string tls_ca, tls_cert, tls_key, sasl_mech, sasl_user, sasl_password_file;
    unsigned breaks = 0;
    for (int i = 6; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--trace")) trace_file = argv[i + 1];
        else if (!std::strcmp(argv[i], "--name")) name = argv[i + 1];
        else if (!std::strcmp(argv[i], "--reinit-limit")) reinit_limit = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--tls-ca")) tls_ca = argv[i + 1];
        else if (!std::strcmp(argv[i], "--tls-cert")) tls_cert = argv[i + 1];
        else if (!std::strcmp(argv[i], "--tls-key")) tls_key = argv[i + 1];
        else if (!std::strcmp(argv[i], "--sasl-mech")) sasl_mech = argv[i + 1];
        else if (!std::strcmp(argv[i], "--sasl-user")) sasl_user = argv[i + 1];
        else if (!std::strcmp(argv[i], "--sasl-password-file")) sasl_password_file = argv[i + 1];
        else if (!std::strcmp(argv[i], "--break")) {
            if (!std::strcmp(argv[i + 1], "nul")) breaks |= ZkMaster::kBreakNul;
            else if (!std::strcmp(argv[i + 1], "reinit")) breaks |= ZkMaster::kBreakReinit;
            else if (!std::strcmp(argv[i + 1], "poll")) breaks |= ZkMaster::kBreakPoll;
            else {
                std::fprintf(stderr, "seed_peer: --break takes nul, reinit or poll, not %s\n", argv[i + 1]);
                return 2;
            }
        } else {
            std::fprintf(stderr, "seed_peer: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    int timeout = std::atoi(argv[4]), work = std::atoi(argv[5]);
    if (timeout <= 0 || work <= 0) {
        std::fprintf(stderr, "seed_peer: timeouts must be positive\n");
        return 2;
    }
    std::string tls;
    if (!tls_ca.empty() || !tls_cert.empty() || !tls_key.empty()) {
        if (tls_ca.empty() || tls_cert.empty() || tls_key.empty()) {
            std::fprintf(stderr, "seed_peer: --tls-ca, --tls-cert and --tls-key go together\n");
            return 2;
        }
        tls = tls_ca + "," + tls_cert + "," + tls_key;
    }
    if (!sasl_mech.empty() && (sasl_user.empty() || sasl_password_file.empty())) {
        std::fprintf(stderr, "seed_peer: --sasl-mech needs --sasl-user and --sasl-password-file\n");
        return 2;
    }
    if (!sasl_mech.empty() && !tls.empty()) {
        std::fprintf(stderr, "seed_peer: the C client has no TLS + SASL init\n");
        return 2;
    }
    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    Trace trace(trace_file, name);
    ZkMaster master(argv[1], argv[2], argv[3], timeout, work, trace, reinit_limit, tls, sasl_mech, sasl_user,
                    sasl_password_file, breaks);
    if (!master.init(nullptr)) return 1;
    master.run();
    return 0;
}
