//! No Docker engine runs here, so this checks docker-compose.yml against the real CLI instead:
//! every `tollgate` command and flag it uses exists, every variable it sets is one the
//! configuration reads, and the gateway config it mounts parses.

use std::path::Path;
use std::process::Command;

use yaml_rust2::YamlLoader;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Variables the facilitator, gateway and logging read, as named in their sources.
const SOURCES: &[&str] = &[
    include_str!("../../../facilitator/src/setup/config.rs"),
    include_str!("../../src/facilitator.rs"),
    include_str!("../../src/gateway.rs"),
    include_str!("../../src/main.rs"),
];

fn known_variable(name: &str) -> bool {
    name == "RUST_LOG" || SOURCES.iter().any(|s| s.contains(&format!("\"{name}\"")))
}

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .arg("--help")
        .output()
        .expect("tollgate runs");
    assert!(
        out.status.success(),
        "`tollgate {} --help` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn compose_uses_only_real_commands_flags_and_variables() {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).expect("compose file");
    let doc = &YamlLoader::load_from_str(&text).expect("compose is YAML")[0];
    let services = doc["services"].as_hash().expect("services");
    for name in ["postgres", "anvil", "facilitator", "gateway", "demo-api"] {
        let s = &doc["services"][name];
        assert!(!s.is_badvalue(), "service {name} is missing");
        assert!(
            !s["healthcheck"].is_badvalue() || name == "gateway",
            "service {name} has no health check"
        );
    }
    let mut checked = 0;
    for (_, s) in services {
        if s["build"].is_badvalue() {
            continue;
        }
        let cmd: Vec<&str> = s["command"]
            .as_vec()
            .expect("command list")
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let sub = cmd[0];
        let usage = help(&[sub]);
        for flag in cmd.iter().filter(|a| a.starts_with("--")) {
            assert!(
                usage.contains(flag),
                "`tollgate {sub}` has no {flag}:\n{usage}"
            );
        }
        if let Some(env) = s["environment"].as_hash() {
            for (k, _) in env {
                let k = k.as_str().unwrap();
                assert!(known_variable(k), "{k} is not read by tollgate");
            }
        }
        if let Some(vols) = s["volumes"].as_vec() {
            for v in vols {
                let host = v.as_str().unwrap().split(':').next().unwrap();
                let path = root().join(host);
                assert!(path.exists(), "{host} is mounted but missing");
                if host.ends_with("gateway.toml") {
                    tollgate_gateway::GatewayConfig::from_file(&path)
                        .expect("mounted gateway config parses");
                }
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 3, "facilitator, demo-api and gateway run tollgate");
    let env_example =
        std::fs::read_to_string(root().join("deploy/compose.env.example")).expect("env example");
    for line in env_example
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
    {
        let k = line.split('=').next().unwrap();
        let in_gateway = std::fs::read_to_string(root().join("deploy/gateway.toml"))
            .unwrap()
            .contains(k);
        assert!(
            known_variable(k) || in_gateway,
            "{k} in the env file is read by nothing"
        );
    }
}
