//! Writes the bindings zk-sys ships pre-generated, so that crates depending
//! on zk-sys need neither libclang nor bindgen. vendor/fetch runs it on the
//! bundle it assembles:
//!
//! ```text
//! zk-sys-bindgen <wrapper.h> <out dir> <include dir>...
//! ```
//!
//! It writes one file per part (`bindings.rs`, and `bindings_ssl.rs` /
//! `bindings_sasl.rs` for zk-sys's `ssl` / `sasl` features; the optional
//! parts need the OpenSSL and Cyrus SASL headers: libssl-dev, libsasl2-dev).
//! With `--check`, it writes nothing and fails if a file in `<out dir>`
//! differs from what it would write (bindings regenerated and compared, as
//! CI should).

use std::path::PathBuf;
use std::process::ExitCode;

include!("../../../zk-sys/bindgen.rs");

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let check = args.first().is_some_and(|a| a == "--check");
    if check {
        args.remove(0);
    }
    if args.len() < 3 {
        eprintln!("usage: zk-sys-bindgen [--check] <wrapper.h> <out dir> <include dir>...");
        return ExitCode::from(2);
    }
    let wrapper = PathBuf::from(&args[0]);
    let out_dir = PathBuf::from(&args[1]);
    let include_dirs: Vec<PathBuf> = args[2..].iter().map(PathBuf::from).collect();
    for part in BindingsPart::ALL {
        let out = out_dir.join(part.file_name());
        let bindings = match zookeeper_bindings(&wrapper, &include_dirs, part).generate() {
            Ok(b) => b.to_string(),
            Err(e) => {
                eprintln!(
                    "zk-sys-bindgen: bindgen failed on {} ({part:?}): {e}",
                    wrapper.display()
                );
                return ExitCode::FAILURE;
            }
        };
        if check {
            match std::fs::read_to_string(&out) {
                Ok(old) if old == bindings => continue,
                Ok(_) => {
                    eprintln!(
                        "zk-sys-bindgen: {} is stale: rerun vendor/fetch",
                        out.display()
                    );
                }
                Err(e) => eprintln!("zk-sys-bindgen: cannot read {}: {e}", out.display()),
            }
            return ExitCode::FAILURE;
        }
        if let Err(e) = std::fs::write(&out, bindings) {
            eprintln!("zk-sys-bindgen: cannot write {}: {e}", out.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
