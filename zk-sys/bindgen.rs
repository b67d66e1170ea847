// What zk-sys binds and how, shared (include!d) by zk-sys/build.rs (feature
// `buildtime_bindgen`) and vendor/bindgen (the generator vendor/fetch runs to
// write the bundled, pre-generated `zookeeper/bindings*.rs`), so both produce
// the same bindings.

/// One pre-generated bindings file: the base API (always compiled in), and
/// the items the C client declares only when built with OpenSSL
/// (`HAVE_OPENSSL_H`) or Cyrus SASL (`HAVE_CYRUS_SASL_H`). The optional parts
/// hold only their own items and are included next to the base file, so
/// they name its types (`zhandle_t`, `watcher_fn`, …) without repeating them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BindingsPart {
    /// `bindings.rs`: the public API of a build without SSL and SASL.
    Base,
    /// `bindings_ssl.rs`: `zookeeper_init_ssl` (zk-sys feature `ssl`).
    Ssl,
    /// `bindings_sasl.rs`: `zookeeper_init_sasl`, `zoo_sasl_params_t`, the
    /// Cyrus SASL callback types and constants (zk-sys feature `sasl`).
    Sasl,
}

impl BindingsPart {
    /// Every part, in the order the files are written.
    pub const ALL: [BindingsPart; 3] = [BindingsPart::Base, BindingsPart::Ssl, BindingsPart::Sasl];

    /// The file name of this part in the bundle (and in OUT_DIR).
    pub fn file_name(self) -> &'static str {
        match self {
            BindingsPart::Base => "bindings.rs",
            BindingsPart::Ssl => "bindings_ssl.rs",
            BindingsPart::Sasl => "bindings_sasl.rs",
        }
    }
}

/// The types of the base part, which the optional parts refer to by name.
const BASE_TYPES: &str = "zhandle_t|_zhandle|clientid_t|watcher_fn|log_callback_fn";

/// A bindgen builder for `wrapper.h` (the C client's public API) with the
/// headers found in `include_dirs`, for one part. Layout tests stay on: they
/// compile into the bindings as constant assertions, so a pre-generated file
/// used on a target whose struct layout differs fails to compile instead of
/// misbehaving.
pub fn zookeeper_bindings(
    wrapper: &std::path::Path,
    include_dirs: &[std::path::PathBuf],
    part: BindingsPart,
) -> bindgen::Builder {
    let mut builder = bindgen::Builder::default()
        .header(wrapper.to_string_lossy())
        .clang_arg("-DTHREADED")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .derive_default(true)
        .derive_debug(true)
        .layout_tests(true)
        .generate_comments(true);
    builder = match part {
        BindingsPart::Base => builder
            .allowlist_function("zoo_.*|zookeeper_.*|zerror|is_unrecoverable|deallocate_.*|allocate_.*|serialize_.*|deserialize_.*|log_message|format_log_message|get_log_callback")
            .allowlist_var("ZOO.*|ZOOKEEPER_.*")
            .allowlist_type("zhandle_t|clientid_t|Stat|ACL|ACL_vector|Id|String_vector|zoo_op.*|watcher_fn|log_callback_fn|.*_completion_t|ZOO_ERRORS|ZooLogLevel|buffer|iarchive|oarchive"),
        BindingsPart::Ssl => builder
            .clang_arg("-DHAVE_OPENSSL_H")
            .allowlist_function("zookeeper_init_ssl")
            .blocklist_type(BASE_TYPES),
        BindingsPart::Sasl => builder
            .clang_arg("-DHAVE_CYRUS_SASL_H")
            .allowlist_function("zookeeper_init_sasl|zoo_sasl_make_basic_callbacks|sasl_client_init|sasl_errstring")
            .allowlist_type("zoo_sasl_params_t|sasl_callback_t|sasl_secret_t|sasl_conn_t")
            .allowlist_var("SASL_CB_(LIST_END|USER|AUTHNAME|PASS|GETREALM)|SASL_(OK|FAIL|BADPARAM|NOMEM)")
            .blocklist_type(BASE_TYPES),
    };
    for dir in include_dirs {
        builder = builder.clang_arg(format!("-I{}", dir.display()));
    }
    builder
}
