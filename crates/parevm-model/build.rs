//! Compiles the included source files of parevm's concurrent structures with
//! `cfg(parevm_model)`, which swaps their synchronisation primitives for shuttle's.

fn main() {
    println!("cargo::rustc-cfg=parevm_model");
    println!("cargo::rustc-check-cfg=cfg(parevm_model)");
}
