// What zk-sys binds and how, shared (include!d) by zk-sys/build.rs (feature
// `buildtime_bindgen`) and vendor/bindgen (the generator vendor/fetch runs to
// write the bundled, pre-generated `zookeeper/bindings.rs`), so both produce
// the same bindings.

/// A bindgen builder for `wrapper.h` (the C client's public API) with the
/// headers found in `include_dirs`. Layout tests stay on: they compile into
/// the bindings as constant assertions, so a pre-generated file used on a
/// target whose struct layout differs fails to compile instead of
/// misbehaving.
pub fn zookeeper_bindings(
    wrapper: &std::path::Path,
    include_dirs: &[std::path::PathBuf],
) -> bindgen::Builder {
    let mut builder = bindgen::Builder::default()
        .header(wrapper.to_string_lossy())
        .clang_arg("-DTHREADED")
        .allowlist_function("zoo_.*|zookeeper_.*|zerror|is_unrecoverable|deallocate_.*|allocate_.*|serialize_.*|deserialize_.*|log_message|format_log_message|get_log_callback")
        .allowlist_var("ZOO.*|ZOOKEEPER_.*")
        .allowlist_type("zhandle_t|clientid_t|Stat|ACL|ACL_vector|Id|String_vector|zoo_op.*|watcher_fn|log_callback_fn|.*_completion_t|ZOO_ERRORS|ZooLogLevel|buffer|iarchive|oarchive")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .derive_default(true)
        .derive_debug(true)
        .layout_tests(true)
        .generate_comments(true);
    for dir in include_dirs {
        builder = builder.clang_arg(format!("-I{}", dir.display()));
    }
    builder
}
