//! Gives the shared library the soname `libtimeledger.so` (the file is installed under that name).
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libtimeledger.so");
    }
}
