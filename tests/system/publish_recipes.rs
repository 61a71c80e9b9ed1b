//! The deploy/hooks/ publishing recipes, each run as tokentop runs it: the real `tokentop
//! refresh` against the simulator, with the recipe as the account's `on-refresh`. The AWS
//! recipes write to a real local AWS API emulator (moto server, from the test venv) with the
//! real AWS CLI (awscli, same venv), and the test reads the value back; moto has no App
//! Runner, so `start-deployment` goes to a fake App Runner endpoint that records the call and
//! what the secret held at that moment. The Kubernetes recipe's server-side apply goes to a
//! fake API server (discovery and the PATCH, recorded), and its manifest passes `kubectl apply
//! --dry-run=client`. The webhook goes to a recording receiver.
//!
//! Each test also watches every process's argv (`/proc/*/cmdline`) while the recipe's tool
//! talks to its endpoint and, sampled, for the whole run: no token and no bearer credential
//! may ever appear there.
//!
//! The venv (moto[server], awscli) and kubectl are provisioned by `scripts/test`; a missing
//! one fails these tests, never skips them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::recipes;
use crate::support;

use std::path::Path;
use std::time::Duration;

use axum::http::StatusCode;
use recipes::{
    ArgvWatch, FakeHttp, Moto, Recorded, aws, aws_env, base64, hook, path_with, require_kubectl,
    run_recipe, venv_bin, watching_relay,
};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use support::cli::{all_text, start_sim, tokentop, write_private};
use tokentop::engine::store::TokenStore;
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, RunningSim, TokenKind};

/// The tokens of one `tokentop refresh`: the configured one and the one the simulator issued.
struct Refreshed {
    old: String,
    new: String,
    expires_at: i64,
}

/// Runs `tokentop refresh` for one account whose `on-refresh` is `on_refresh`, with `env`
/// in tokentop's environment (every name but PATH listed in `on-refresh-env`); asserts it
/// succeeded and that the stored token is one the simulator issued.
async fn refresh_through(
    sim: &RunningSim,
    home: &Path,
    on_refresh: &[String],
    env: &[(String, String)],
) -> Refreshed {
    let old = sim
        .handle()
        .mint_token(TokenKind::SystemUser, Some(Duration::from_secs(3600)))
        .access_token;
    let pass: Vec<&str> = env
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| *name != "PATH")
        .collect();
    let config = home.join("config.toml");
    write_private(
        &config,
        &format!(
            "[[account]]\nname = \"main\"\napp-id = \"{DEFAULT_APP_ID}\"\n\
             app-secret = \"{DEFAULT_APP_SECRET}\"\naccess-token = \"{old}\"\n\
             on-refresh = {}\non-refresh-env = {}\non-refresh-timeout = \"90s\"\n",
            serde_json::to_string(on_refresh).unwrap(),
            serde_json::to_string(&pass).unwrap(),
        ),
    );
    let data = home.join("data");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--graph-url",
        &sim.base_url(),
        "refresh",
    ];
    let output = tokentop(home, &args, &env).await;
    assert!(output.status.success(), "{}", all_text(&output));
    let stored = TokenStore::new(&data).load("main").unwrap().unwrap();
    let new = stored.access_token.expose_secret().to_string();
    assert_ne!(new, old, "the refresh stored the old token");
    assert!(
        sim.handle().token_expires_at(&new).is_some(),
        "the stored token is not one the simulator issued"
    );
    Refreshed {
        old,
        new,
        expires_at: stored.expires_at.unwrap_or(0),
    }
}

/// moto, and a relay in front of it that snapshots every argv when the CLI connects.
async fn moto_behind_relay(watch: &ArgvWatch) -> (Moto, String) {
    let moto = Moto::start(&venv_bin()).await;
    let relay = watching_relay(moto.addr, watch.clone()).await;
    (moto, relay)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_manager_recipe_stores_the_issued_token() {
    let sim = start_sim().await;
    let home = tempfile::tempdir().unwrap();
    let watch = ArgvWatch::default();
    let (moto, relay) = moto_behind_relay(&watch).await;
    let direct = aws_env(&venv_bin(), home.path(), &moto.url());
    let secret = "prod/sm-recipe/access-token";
    aws(
        &direct,
        &[
            "secretsmanager",
            "create-secret",
            "--name",
            secret,
            "--secret-string",
            "placeholder",
        ],
    )
    .await;

    watch.start_sampler();
    let on_refresh = [hook("aws-secretsmanager"), secret.to_string()];
    let tokens = refresh_through(
        &sim,
        home.path(),
        &on_refresh,
        &aws_env(&venv_bin(), home.path(), &relay),
    )
    .await;

    let value = aws(
        &direct,
        &[
            "secretsmanager",
            "get-secret-value",
            "--secret-id",
            secret,
            "--query",
            "SecretString",
            "--output",
            "text",
        ],
    )
    .await;
    assert_eq!(
        value, tokens.new,
        "the secret does not hold the issued token"
    );
    watch.assert_clean(
        &format!("put-secret-value --secret-id {secret}"),
        &[&tokens.new, &tokens.old],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssm_recipe_stores_the_issued_token_as_a_secure_string() {
    let sim = start_sim().await;
    let home = tempfile::tempdir().unwrap();
    let watch = ArgvWatch::default();
    let (moto, relay) = moto_behind_relay(&watch).await;
    let direct = aws_env(&venv_bin(), home.path(), &moto.url());
    let name = "/prod/ssm-recipe/access-token";

    watch.start_sampler();
    let on_refresh = [
        hook("aws-ssm-parameter"),
        name.to_string(),
        "alias/aws/ssm".to_string(),
    ];
    let tokens = refresh_through(
        &sim,
        home.path(),
        &on_refresh,
        &aws_env(&venv_bin(), home.path(), &relay),
    )
    .await;

    let read = aws(
        &direct,
        &[
            "ssm",
            "get-parameter",
            "--name",
            name,
            "--with-decryption",
            "--query",
            "[Parameter.Type,Parameter.Value]",
            "--output",
            "text",
        ],
    )
    .await;
    assert_eq!(read, format!("SecureString\t{}", tokens.new));
    watch.assert_clean(
        &format!("put-parameter --name {name}"),
        &[&tokens.new, &tokens.old],
    );
}

/// What the secret held when the fake App Runner got `StartDeployment`, read from moto the
/// way the CLI would (moto checks no signature).
async fn secret_in_moto(moto_url: &str, secret: &str) -> String {
    let answer: Value = reqwest::Client::new()
        .post(format!("{moto_url}/"))
        .header("X-Amz-Target", "secretsmanager.GetSecretValue")
        .header("Content-Type", "application/x-amz-json-1.1")
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/eu-west-1/secretsmanager/aws4_request, \
             SignedHeaders=host, Signature=0",
        )
        .body(json!({ "SecretId": secret }).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["SecretString"].as_str().unwrap_or("").to_string()
}

/// A fake App Runner: answers `StartDeployment` and records what `secret` held in moto then.
async fn fake_apprunner(
    watch: &ArgvWatch,
    moto_url: String,
    secret: &'static str,
) -> (FakeHttp, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let held: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let log = held.clone();
    let fake = FakeHttp::start(watch.clone(), move |_request: Recorded| {
        let (log, moto_url) = (log.clone(), moto_url.clone());
        async move {
            let held_now = secret_in_moto(&moto_url, secret).await;
            log.lock().unwrap().push(held_now);
            (
                StatusCode::OK,
                "application/x-amz-json-1.0",
                r#"{"OperationId":"0f3c7e1d2b4a49b8a1c2d3e4f5a6b7c8"}"#.to_string(),
            )
        }
    })
    .await;
    (fake, held)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apprunner_handoff_updates_the_secret_then_starts_a_deployment() {
    const SECRET: &str = "prod/apprunner-recipe/access-token";
    const SERVICE: &str =
        "arn:aws:apprunner:eu-west-1:123456789012:service/backend/0123456789abcdef";
    let sim = start_sim().await;
    let home = tempfile::tempdir().unwrap();
    let watch = ArgvWatch::default();
    let (moto, relay) = moto_behind_relay(&watch).await;
    let direct = aws_env(&venv_bin(), home.path(), &moto.url());
    aws(
        &direct,
        &[
            "secretsmanager",
            "create-secret",
            "--name",
            SECRET,
            "--secret-string",
            "placeholder",
        ],
    )
    .await;
    let (apprunner, held) = fake_apprunner(&watch, moto.url(), SECRET).await;
    let mut env = aws_env(&venv_bin(), home.path(), &relay);
    env.push(("AWS_ENDPOINT_URL_APPRUNNER".into(), apprunner.url.clone()));

    watch.start_sampler();
    let on_refresh = [
        hook("aws-apprunner-handoff"),
        SECRET.to_string(),
        SERVICE.to_string(),
    ];
    let tokens = refresh_through(&sim, home.path(), &on_refresh, &env).await;

    let calls = apprunner.recorded();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].header("x-amz-target"), "AppRunner.StartDeployment");
    assert_eq!(calls[0].json()["ServiceArn"], SERVICE);
    assert_eq!(
        *held.lock().unwrap(),
        std::slice::from_ref(&tokens.new),
        "the deployment started before the secret held the new token"
    );
    watch.assert_clean(
        &format!("put-secret-value --secret-id {SECRET}"),
        &[&tokens.new, &tokens.old],
    );
    watch.assert_clean(
        &format!("start-deployment --service-arn {SERVICE}"),
        &[&tokens.new, &tokens.old],
    );

    // A secret that cannot be written starts no deployment, and the hook fails.
    let argv = [
        hook("aws-apprunner-handoff"),
        "prod/missing".to_string(),
        SERVICE.to_string(),
    ];
    let (ok, _, stderr) = run_recipe(&argv, &env, &format!("{}\n", tokens.new)).await;
    assert!(!ok, "a failed secret write passed: {stderr}");
    assert!(stderr.contains("ResourceNotFoundException"), "{stderr}");
    assert_eq!(
        apprunner.recorded().len(),
        1,
        "a deployment started without the secret"
    );
}

/// Deployments the fake Kubernetes API server knows, as (namespace, name).
const DEPLOYMENTS: [(&str, &str); 2] = [("prod", "backend"), ("default", "worker")];

/// A fake Kubernetes API server: discovery for v1 Secrets and apps/v1 Deployments,
/// server-side apply PATCHes of Secrets, and GET and PATCH of the [`DEPLOYMENTS`].
async fn fake_kubernetes(watch: &ArgvWatch) -> FakeHttp {
    FakeHttp::start(watch.clone(), |request: Recorded| async move {
        let path = request.uri.split('?').next().unwrap_or("").to_string();
        let body = match (request.method.as_str(), path.as_str()) {
            ("GET", "/api") => json!({"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
            ("GET", "/apis") => json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                 "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]}),
            ("GET", "/api/v1") => json!({"kind": "APIResourceList", "groupVersion": "v1",
                "resources": [{"name": "secrets", "singularName": "secret", "namespaced": true,
                    "kind": "Secret", "verbs": ["create", "get", "list", "patch", "update"]}]}),
            ("GET", "/apis/apps/v1") => json!({"kind": "APIResourceList", "groupVersion": "apps/v1",
                "resources": [{"name": "deployments", "singularName": "deployment", "namespaced": true,
                    "kind": "Deployment", "shortNames": ["deploy"],
                    "verbs": ["create", "get", "list", "patch", "update"]}]}),
            (_, deployment) if deployment.starts_with("/apis/apps/v1/") => {
                match fake_deployment(deployment) {
                    Some(object) => object,
                    None => return not_found(),
                }
            }
            ("PATCH", _) => {
                let applied: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": applied["metadata"]})
            }
            _ => return not_found(),
        };
        (StatusCode::OK, "application/json", body.to_string())
    })
    .await
}

fn not_found() -> recipes::Answer {
    let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "reason": "NotFound", "code": 404});
    (
        StatusCode::NOT_FOUND,
        "application/json",
        status.to_string(),
    )
}

/// The Deployment at `/apis/apps/v1/namespaces/NS/deployments/NAME` when it is one of the
/// [`DEPLOYMENTS`] (a PATCH answers with it unchanged: kubectl only prints its name).
fn fake_deployment(path: &str) -> Option<Value> {
    let rest = path.strip_prefix("/apis/apps/v1/namespaces/")?;
    let (namespace, name) = rest.split_once("/deployments/")?;
    DEPLOYMENTS.contains(&(namespace, name)).then(|| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": "app:1"}]}}}})
    })
}

/// A kubeconfig for the fake API server. `--validate=false` rides along in
/// TOKENTOP_KUBECTL_ARGS: the fake serves no OpenAPI schema to validate against.
fn kube_env(home: &Path, api: &FakeHttp) -> Vec<(String, String)> {
    let kubeconfig = home.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{server: \"{}\"}}\n\
             contexts:\n- name: fake\n  context: {{cluster: fake, user: fake, namespace: default}}\n\
             current-context: fake\nusers:\n- name: fake\n  user: {{}}\n",
            api.url
        ),
    )
    .unwrap();
    vec![
        ("KUBECONFIG".into(), kubeconfig.display().to_string()),
        ("TOKENTOP_KUBECTL_ARGS".into(), "--validate=false".into()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_recipe_applies_the_secret_server_side() {
    require_kubectl();
    let sim = start_sim().await;
    let home = tempfile::tempdir().unwrap();
    let watch = ArgvWatch::default();
    let api = fake_kubernetes(&watch).await;

    watch.start_sampler();
    let on_refresh = [hook("kubernetes-secret"), "prod/whatsapp".to_string()];
    let tokens =
        refresh_through(&sim, home.path(), &on_refresh, &kube_env(home.path(), &api)).await;

    let patches: Vec<Recorded> = api
        .recorded()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(patches.len(), 1, "{patches:?}");
    let patch = &patches[0];
    assert!(
        patch
            .uri
            .starts_with("/api/v1/namespaces/prod/secrets/whatsapp?"),
        "{}",
        patch.uri
    );
    assert!(
        patch.uri.contains("fieldManager=tokentop") && patch.uri.contains("force=true"),
        "{}",
        patch.uri
    );
    assert_eq!(patch.header("content-type"), "application/apply-patch+yaml");
    let applied = patch.json();
    assert_eq!(applied["kind"], "Secret");
    assert_eq!(
        applied["data"]["WHATSAPP_ACCESS_TOKEN"],
        base64(tokens.new.as_bytes())
    );
    assert_eq!(
        applied["metadata"]["annotations"]["tokentop/account"],
        "main"
    );
    assert_eq!(
        applied["metadata"]["annotations"]["tokentop/expires-at"],
        tokens.expires_at.to_string()
    );
    watch.assert_clean(
        "apply --server-side --field-manager=tokentop",
        &[&tokens.new, &tokens.old],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_recipe_manifest_passes_kubectl_client_dry_run() {
    require_kubectl();
    let home = tempfile::tempdir().unwrap();
    let watch = ArgvWatch::default();
    let api = fake_kubernetes(&watch).await;
    let token = format!("EAAG{}", "k8sDryRun|token~0123456789");
    let mut env = kube_env(home.path(), &api);
    env.extend([
        ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
        ("HOME".into(), home.path().display().to_string()),
        ("TOKENTOP_K8S_DRY_RUN".into(), "client".into()),
        ("TOKENTOP_ACCOUNT".into(), "main".into()),
        ("TOKENTOP_EXPIRES_AT".into(), "1767225600".into()),
    ]);

    watch.start_sampler();
    let argv = [
        hook("kubernetes-secret"),
        "staging/wa-token".to_string(),
        "TOKEN".to_string(),
    ];
    let (ok, stdout, stderr) = run_recipe(&argv, &env, &format!("{token}\n")).await;
    assert!(
        ok,
        "kubectl apply --dry-run=client refused the manifest: {stderr}"
    );
    // kubectl prints the object it would apply: the decoded manifest, fields sorted.
    for line in [
        format!("  TOKEN: {}", base64(token.as_bytes())),
        "kind: Secret".to_string(),
        "  name: wa-token".to_string(),
        "  namespace: staging".to_string(),
        "    tokentop/expires-at: \"1767225600\"".to_string(),
        "type: Opaque".to_string(),
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "no `{line}` in:\n{stdout}"
        );
    }
    assert!(
        !stdout.contains(&token),
        "the plain token is in the manifest:\n{stdout}"
    );
    assert!(
        api.recorded().iter().all(|r| r.method == "GET"),
        "a dry run changed something"
    );
    watch.assert_clean("apply --dry-run=client", &[&token]);
}

/// [`kube_env`] without `--validate=false`, a flag of `apply` that `rollout restart` lacks.
fn rollout_env(home: &Path, api: &FakeHttp) -> Vec<(String, String)> {
    kube_env(home, api)
        .into_iter()
        .filter(|(name, _)| name != "TOKENTOP_KUBECTL_ARGS")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_rollout_restart_recipe_patches_each_deployment_template() {
    require_kubectl();
    let sim = start_sim().await;
    let home = tempfile::tempdir().unwrap();
    let watch = ArgvWatch::default();
    let api = fake_kubernetes(&watch).await;
    let started = chrono::Utc::now() - chrono::Duration::seconds(1);

    watch.start_sampler();
    let on_refresh = [
        hook("kubernetes-rollout-restart"),
        "prod/backend".to_string(),
        "worker".to_string(),
    ];
    let tokens = refresh_through(
        &sim,
        home.path(),
        &on_refresh,
        &rollout_env(home.path(), &api),
    )
    .await;

    let patches: Vec<Recorded> = api
        .recorded()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    let paths: Vec<&str> = patches
        .iter()
        .map(|p| p.uri.split('?').next().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/apis/apps/v1/namespaces/prod/deployments/backend",
            "/apis/apps/v1/namespaces/default/deployments/worker"
        ]
    );
    for patch in &patches {
        // What `kubectl rollout restart` sends: a new pod-template annotation, which makes
        // the Deployment replace its Pods.
        assert_eq!(
            patch.header("content-type"),
            "application/strategic-merge-patch+json"
        );
        let applied = patch.json();
        let annotations = &applied["spec"]["template"]["metadata"]["annotations"];
        let restarted_at = annotations["kubectl.kubernetes.io/restartedAt"]
            .as_str()
            .unwrap_or_else(|| panic!("no restartedAt annotation: {applied}"));
        let restarted_at = chrono::DateTime::parse_from_rfc3339(restarted_at).unwrap();
        assert!(
            restarted_at >= started,
            "{restarted_at} is before the refresh"
        );
    }
    watch.assert_clean("rollout restart", &[&tokens.new, &tokens.old]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_rollout_restart_recipe_tries_every_deployment_and_names_the_failed_one() {
    require_kubectl();
    let home = tempfile::tempdir().unwrap();
    let api = fake_kubernetes(&ArgvWatch::default()).await;
    let mut env = rollout_env(home.path(), &api);
    env.extend([
        ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
        ("HOME".into(), home.path().display().to_string()),
    ]);
    let argv = [
        hook("kubernetes-rollout-restart"),
        "prod/missing".to_string(),
        "prod/backend".to_string(),
    ];
    let (ok, _, stderr) = run_recipe(&argv, &env, "EAAGignoredignoredignored\n").await;
    assert!(!ok, "a failed restart was not reported: {stderr}");
    assert!(
        stderr.contains("could not restart Deployment prod/missing"),
        "{stderr}"
    );
    assert!(
        stderr.contains("restarted Deployment prod/backend"),
        "{stderr}"
    );
    let patched: Vec<String> = api
        .recorded()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.uri)
        .collect();
    assert_eq!(patched.len(), 1, "{patched:?}");
    assert!(patched[0].contains("/deployments/backend?"), "{patched:?}");
}

/// The recipe hands kubectl neither the token (its stdin is closed) nor a name that could be
/// read as an option; a fake kubectl records what it got.
#[tokio::test]
async fn kubernetes_rollout_restart_recipe_keeps_the_token_and_options_from_kubectl() {
    let home = tempfile::tempdir().unwrap();
    let record = home.path().join("kubectl-call");
    let kubectl = home.path().join("kubectl");
    // Written by a child shell, so this forking test process never holds the script open for
    // writing (exec'ing it could fail with "text file busy").
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >> {0}; cat >> {0}\n",
        record.display()
    );
    let written = std::process::Command::new("sh")
        .args([
            "-c",
            "printf '%s' \"$1\" > \"$2\" && chmod 755 \"$2\"",
            "sh",
        ])
        .arg(&script)
        .arg(&kubectl)
        .status()
        .unwrap();
    assert!(written.success());
    let env = vec![
        (
            "PATH".to_string(),
            std::env::var("PATH").unwrap_or_default(),
        ),
        ("KUBECTL".to_string(), kubectl.display().to_string()),
        (
            "TOKENTOP_KUBECTL_ARGS".to_string(),
            "--context prod".to_string(),
        ),
    ];
    let token = "EAAGrolloutrolloutrollout1234";
    let run = |names: &[&str]| {
        let mut argv = vec![hook("kubernetes-rollout-restart")];
        argv.extend(names.iter().map(|name| name.to_string()));
        let (env, stdin) = (env.clone(), format!("{token}\n"));
        async move { run_recipe(&argv, &env, &stdin).await }
    };

    let (ok, _, stderr) = run(&["prod/backend", "worker"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&record).unwrap(),
        "--context prod --namespace=prod rollout restart deployment/backend\n\
         --context prod rollout restart deployment/worker\n"
    );
    for bad in [&["--all"][..], &["prod/-x"], &["a/b/c"], &["Prod/x"], &[]] {
        std::fs::remove_file(&record).ok();
        let (ok, _, stderr) = run(bad).await;
        assert!(!ok, "{bad:?} accepted");
        assert!(
            stderr.contains("usage") || stderr.contains("bad Deployment"),
            "{stderr}"
        );
        assert!(!record.exists(), "{bad:?} reached kubectl");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_recipe_posts_the_token_with_the_configured_bearer() {
    let sim = start_sim().await;
    let home = tempfile::tempdir().unwrap();
    let watch = ArgvWatch::default();
    let receiver = FakeHttp::start(watch.clone(), |_request: Recorded| async {
        (StatusCode::NO_CONTENT, "text/plain", String::new())
    })
    .await;
    let bearer = format!("whk-{}", rand::random::<u64>());
    let bearer_file = home.path().join("bearer");
    write_private(&bearer_file, &format!("{bearer}\n"));
    let env = vec![
        (
            "TOKENTOP_WEBHOOK_BEARER_FILE".to_string(),
            bearer_file.display().to_string(),
        ),
        // Only this test runs curl with this time limit: the argv watch looks for it.
        ("TOKENTOP_WEBHOOK_TIMEOUT".to_string(), "17".to_string()),
    ];

    watch.start_sampler();
    let on_refresh = [
        hook("webhook"),
        format!("{}/hooks/whatsapp-token", receiver.url),
    ];
    let tokens = refresh_through(&sim, home.path(), &on_refresh, &env).await;

    let posts = receiver.recorded();
    assert_eq!(posts.len(), 1, "{posts:?}");
    let post = &posts[0];
    assert_eq!(
        (post.method.as_str(), post.uri.as_str()),
        ("POST", "/hooks/whatsapp-token")
    );
    assert_eq!(post.header("authorization"), format!("Bearer {bearer}"));
    assert_eq!(post.header("content-type"), "application/json");
    assert_eq!(
        post.json(),
        json!({"account": "main", "access_token": tokens.new, "expires_at": tokens.expires_at})
    );
    watch.assert_clean("--max-time 17", &[&tokens.new, &tokens.old, &bearer]);
}

/// The recipes keep the promises docs/recipes.md makes of them.
#[test]
fn every_recipe_is_executable_strict_and_documented() {
    use std::os::unix::fs::PermissionsExt;
    let dir = recipes::repo().join("deploy/hooks");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "aws-apprunner-handoff",
            "aws-secretsmanager",
            "aws-ssm-parameter",
            "kubernetes-rollout-restart",
            "kubernetes-secret",
            "webhook"
        ]
    );
    for name in names {
        let path = dir.join(&name);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("#!/bin/sh\n"),
            "{name}: not a POSIX sh script"
        );
        assert!(text.contains("\nset -eu\n"), "{name}: no `set -eu`");
        assert!(
            text.contains(&format!(
                "on-refresh = [\"/usr/share/tokentop/hooks/{name}\""
            )),
            "{name}: no example on-refresh line"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "{name}: not executable");
        let syntax = std::process::Command::new("sh")
            .arg("-n")
            .arg(&path)
            .status()
            .unwrap();
        assert!(syntax.success(), "{name}: sh -n fails");
    }
}

/// A recipe refuses stdin that is not one token (empty, two words) before doing anything.
#[tokio::test]
async fn recipes_refuse_what_is_not_one_token() {
    let env = vec![("PATH".to_string(), path_with(Path::new("/nonexistent")))];
    for name in [
        "aws-secretsmanager",
        "aws-ssm-parameter",
        "kubernetes-secret",
        "webhook",
    ] {
        let target = if name == "webhook" {
            "https://example.invalid/x"
        } else {
            "target"
        };
        for stdin in ["", "\n", "EAAG one two\n", "EAAG\"quote\n"] {
            let (ok, _, stderr) = run_recipe(&[hook(name), target.to_string()], &env, stdin).await;
            assert!(!ok, "{name} accepted {stdin:?}");
            assert!(
                stderr.contains("token on stdin") || stderr.contains("one access token"),
                "{name}: {stderr}"
            );
        }
    }
}

#[test]
fn base64_matches_the_rfc_4648_vectors() {
    for (plain, encoded) in [
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(plain.as_bytes()), encoded);
    }
}
