//! Compiles the Waku `.proto` files with `protox` (pure Rust), so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/message.proto",
        "proto/filter.proto",
        "proto/lightpush.proto",
        "proto/store.proto",
        "proto/metadata.proto",
        "proto/peer_exchange.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
