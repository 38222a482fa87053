//! Builds the C shim: initial-exec thread-local state (Rust has no stable
//! way to ask for the initial-exec TLS model, and the general-dynamic model
//! reaches `__tls_get_addr`, which may call `malloc`) and the variadic
//! `execl*` wrappers.

fn main() {
    println!("cargo:rerun-if-changed=src/shim.c");
    cc::Build::new()
        .file("src/shim.c")
        .flag("-fvisibility=hidden")
        .flag("-ftls-model=initial-exec")
        .flag_if_supported("-fno-stack-protector")
        .opt_level(2)
        .compile("heapwise_shim");
    // Export only the interposed symbols.
    println!(
        "cargo:rustc-cdylib-link-arg=-Wl,--version-script={}/exports.map",
        std::env::var("CARGO_MANIFEST_DIR").unwrap()
    );
    println!("cargo:rerun-if-changed=exports.map");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
}
