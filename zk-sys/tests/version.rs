//! zk-sys's version carries the C client's version as build metadata
//! (`0.1.0+3.8.0`): check it names the headers the bindings were made from,
//! so a bundle refresh cannot ship under a stale version.

#[test]
fn build_metadata_is_the_headers_zoo_version() {
    let (_, pinned) = env!("CARGO_PKG_VERSION")
        .split_once('+')
        .expect("zk-sys's version has `+<ZooKeeper version>` build metadata");
    let header = std::ffi::CStr::from_bytes_with_nul(zk_sys::ZOO_VERSION)
        .expect("ZOO_VERSION is a C string")
        .to_str()
        .expect("ZOO_VERSION is ASCII");
    assert_eq!(header, pinned, "ZOO_VERSION of zookeeper_version.h");
}
