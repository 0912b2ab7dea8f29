//! `vbmctl` with the profiles operators of real accounts use, resolved offline against the
//! local emulator (run under `infra/scripts/with-moto.sh`): a `credential_process` profile (a
//! small script prints the credentials) and an IAM Identity Center (SSO) profile (a cached SSO
//! token, and a local stand-in for the SSO portal's `GetRoleCredentials`). Without aws-config's
//! `credentials-process` and `sso` features both fail ("requires cargo feature").

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::mpsc;

use vbm_testkit::TestEnv;

/// A fresh directory standing in for the operator's home (~/.aws).
fn home(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "vbmctl-profiles-{}-{name}-{}",
        std::process::id(),
        ulid_like()
    ));
    std::fs::create_dir_all(dir.join(".aws/sso/cache")).expect("temp home");
    dir
}

fn ulid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// vbmctl with only the profile to go on: no access keys in the environment.
fn vbmctl(env: &TestEnv, home: &Path, profile: &str, args: &[&str]) -> Output {
    vbmctl_with(env, home, profile, args, &[])
}

fn vbmctl_with(
    env: &TestEnv,
    home: &Path,
    profile: &str,
    args: &[&str],
    extra: &[(&str, &str)],
) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vbmctl"))
        .args(args)
        .envs(extra.iter().copied())
        .env("VBM_TABLE", &env.table)
        .env_remove("VBM_LOCAL")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join(".aws/config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join(".aws/credentials"))
        .env("AWS_PROFILE", profile)
        .output()
        .expect("vbmctl runs")
}

#[track_caller]
fn succeeded(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_credential_process_profile_works() {
    let env = TestEnv::fresh();
    let home = home("process");
    let marker = home.join("process-ran");
    let script = home.join("creds.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho ran >> '{}'\necho '{{\"Version\": 1, \"AccessKeyId\": \"AKIDPROCESS\", \"SecretAccessKey\": \"process-secret\", \"SessionToken\": \"process-token\"}}'\n",
            marker.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(
        home.join(".aws/config"),
        format!(
            "[profile ops]\nregion = us-east-1\ncredential_process = {}\n",
            script.display()
        ),
    )
    .unwrap();
    std::fs::write(home.join(".aws/credentials"), "").unwrap();

    let out = vbmctl(
        &env,
        &home,
        "ops",
        &["business", "create", "process-co", "--service-id", "5101"],
    );
    succeeded(&out);
    assert!(marker.exists(), "the credential process never ran");
    let shown = vbmctl(&env, &home, "ops", &["business", "show", "process-co"]);
    succeeded(&shown);
    let _ = std::fs::remove_dir_all(&home);
}

const START_URL: &str = "https://vbm-test.awsapps.com/start";
/// SHA-1 of START_URL: the name of its token in ~/.aws/sso/cache (the CLI's legacy layout).
const TOKEN_FILE: &str = "a19d333866bcc73a3c1a9a23dbea925e906cef57.json";

/// The SSO portal's GetRoleCredentials, once per connection; sends each request head it saw.
fn fake_sso_portal() -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (seen, heads) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let body = r#"{"roleCredentials":{"accessKeyId":"AKIDSSO","secretAccessKey":"sso-secret","sessionToken":"sso-token","expiration":4102444800000}}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = seen.send(head);
        }
    });
    (url, heads)
}

#[test]
fn an_sso_profile_works() {
    let env = TestEnv::fresh();
    let home = home("sso");
    std::fs::write(
        home.join(".aws/config"),
        format!(
            "[profile sso-ops]\nregion = us-east-1\nsso_start_url = {START_URL}\nsso_region = us-east-1\nsso_account_id = 123456789012\nsso_role_name = VbmOperator\n"
        ),
    )
    .unwrap();
    std::fs::write(home.join(".aws/credentials"), "").unwrap();
    // What `aws sso login` leaves behind.
    std::fs::write(
        home.join(".aws/sso/cache").join(TOKEN_FILE),
        format!(
            r#"{{"startUrl": "{START_URL}", "region": "us-east-1", "accessToken": "cached-sso-access-token", "expiresAt": "2099-01-01T00:00:00Z"}}"#
        ),
    )
    .unwrap();
    let (portal, heads) = fake_sso_portal();

    let out = vbmctl_with(
        &env,
        &home,
        "sso-ops",
        &["business", "create", "sso-co", "--service-id", "5102"],
        // The SSO portal's endpoint only; DynamoDB stays on the emulator (AWS_ENDPOINT_URL).
        &[("AWS_ENDPOINT_URL_SSO", &portal)],
    );
    succeeded(&out);
    let head = heads
        .try_recv()
        .expect("the SSO portal was asked for credentials");
    let lower = head.to_ascii_lowercase();
    assert!(lower.starts_with("get /federation/credentials"), "{head}");
    assert!(head.contains("role_name=VbmOperator"), "{head}");
    assert!(head.contains("account_id=123456789012"), "{head}");
    assert!(
        lower.contains("x-amz-sso_bearer_token: cached-sso-access-token"),
        "{head}"
    );
    let _ = std::fs::remove_dir_all(&home);
}
