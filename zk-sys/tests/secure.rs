//! Features `ssl` and `sasl`: the bundled C client is compiled with OpenSSL
//! and Cyrus SASL, and the bindings carry their entry points (linked: taking
//! a function's address needs the symbol in the final binary).

#[cfg(feature = "ssl")]
#[test]
fn ssl_build_links_zookeeper_init_ssl() {
    let f: Option<
        unsafe extern "C" fn(
            *const std::os::raw::c_char,
            *const std::os::raw::c_char,
            zk_sys::watcher_fn,
            std::os::raw::c_int,
            *const zk_sys::clientid_t,
            *mut std::os::raw::c_void,
            std::os::raw::c_int,
        ) -> *mut zk_sys::zhandle_t,
    > = Some(zk_sys::zookeeper_init_ssl);
    // Linking this binary is the check (the symbol must exist); the value
    // read from the C client below is the assertion.
    std::hint::black_box(f);
    // SAFETY: reads an `extern const int` the C client defines.
    assert_eq!(unsafe { zk_sys::ZOO_SSL_CONNECTING_STATE }, 7);
}

#[cfg(feature = "sasl")]
#[test]
fn sasl_build_links_zookeeper_init_sasl_and_cyrus() {
    let f = zk_sys::zookeeper_init_sasl as *const () as usize;
    assert_ne!(f, 0);
    // zoo_sasl_params_t is four pointers: service, host, mechlist, callbacks.
    assert_eq!(
        std::mem::size_of::<zk_sys::zoo_sasl_params_t>(),
        4 * std::mem::size_of::<usize>()
    );
    // Cyrus SASL is linked and answers: its error text for SASL_BADPARAM.
    // SAFETY: sasl_errstring returns a static string for any code.
    let text = unsafe {
        std::ffi::CStr::from_ptr(zk_sys::sasl_errstring(
            zk_sys::SASL_BADPARAM,
            std::ptr::null(),
            std::ptr::null_mut(),
        ))
    };
    assert!(!text.to_bytes().is_empty());
    assert_eq!(zk_sys::SASL_CB_LIST_END, 0);
}
