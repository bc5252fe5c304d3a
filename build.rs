//! Compiles the long double shim (INCRBYFLOAT must compute in x87 extended
//! precision, as Valkey does) and probes optional system libraries.

fn main() {
    println!("cargo:rerun-if-changed=csrc/longdouble.c");
    cc::Build::new()
        .file("csrc/longdouble.c")
        .opt_level(2)
        .compile("ferrokv_longdouble");
}
