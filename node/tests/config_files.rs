//! The example configuration in deploy/ is parsed by the node's own loader,
//! so it cannot drift from the code.

use heliograph_node::Config;

#[test]
fn deploy_example_config_parses_and_matches_the_defaults() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/heliograph.toml");
    let config = Config::from_file(std::path::Path::new(path)).expect("deploy/heliograph.toml is valid");
    config.validate().expect("and consistent");
    assert_eq!(config, Config::default(), "the example documents every default");
}
