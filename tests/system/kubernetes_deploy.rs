//! deploy/kubernetes/ (issue 24): every manifest passes `kubectl apply --dry-run=client`
//! against a fake API server whose discovery lists the built-in kinds and ESO's
//! `external-secrets.io/v1` (kubectl decodes each object and prints it back as JSON); then a
//! documented shape test of what ESO and the cluster need, read from that JSON: the webhook
//! provider's URL, `result.jsonPath` and bearer header from a labelled Secret, the
//! ExternalSecret's store, the Deployment's hardening, volumes and ports against the
//! ConfigMap's tokentop config, which itself passes `tokentop config check`.
//!
//! No ESO CRD schema is vendored: the shape test asserts the fields ESO reads
//! (`apis/externalsecrets/v1` `WebhookProvider`, `ExternalSecretSpec`), which is what breaks
//! when a manifest drifts.

use std::path::Path;

use axum::http::StatusCode;
use serde_json::{Value, json};
use tokentop::config::{EnvSnapshot, Overrides, Settings};

use crate::recipes::{ArgvWatch, FakeHttp, Recorded, repo, require_kubectl};
use crate::support::cli::{all_text, tokentop, write_private};

/// What the Deployment's Secret `tokentop-secrets` holds, by name (values made up).
const SECRET_ENV: [(&str, &str); 4] = [
    ("WHATSAPP_APP_SECRET", "0123456789abcdef0123456789abcdef"),
    ("WHATSAPP_ACCESS_TOKEN", "EAAGdeployTestToken0123456789"),
    ("TOKENTOP_SCRAPE_TOKEN", "scrape-deploy-test-5e1f"),
    ("TOKENTOP_ESO_SHOP_BEARER", "eso-shop-deploy-test-77a0"),
];

fn resources(group_version: &str, kinds: &[(&str, &str)]) -> Value {
    let resources: Vec<Value> = kinds
        .iter()
        .map(|(plural, kind)| {
            json!({"name": plural, "singularName": kind.to_lowercase(), "namespaced": true,
                "kind": kind, "verbs": ["create", "get", "list", "patch", "update"]})
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
        "resources": resources})
}

fn group(name: &str) -> Value {
    let version = json!({"groupVersion": format!("{name}/v1"), "version": "v1"});
    json!({"name": name, "versions": [version], "preferredVersion": version})
}

/// Discovery of the kinds deploy/kubernetes uses; every object is new (GET answers 404).
async fn fake_api_server() -> FakeHttp {
    FakeHttp::start(ArgvWatch::default(), |request: Recorded| async move {
        let path = request.uri.split('?').next().unwrap_or("").to_string();
        let body = match path.as_str() {
            "/api" => json!({"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
            "/apis" => json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                group("apps"), group("networking.k8s.io"), group("external-secrets.io")]}),
            "/api/v1" => resources(
                "v1",
                &[
                    ("configmaps", "ConfigMap"),
                    ("secrets", "Secret"),
                    ("services", "Service"),
                    ("persistentvolumeclaims", "PersistentVolumeClaim"),
                ],
            ),
            "/apis/apps/v1" => resources("apps/v1", &[("deployments", "Deployment")]),
            "/apis/networking.k8s.io/v1" => {
                resources("networking.k8s.io/v1", &[("networkpolicies", "NetworkPolicy")])
            }
            "/apis/external-secrets.io/v1" => resources(
                "external-secrets.io/v1",
                &[
                    ("secretstores", "SecretStore"),
                    ("externalsecrets", "ExternalSecret"),
                ],
            ),
            _ => {
                let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "reason": "NotFound", "code": 404});
                return (StatusCode::NOT_FOUND, "application/json", status.to_string());
            }
        };
        (StatusCode::OK, "application/json", body.to_string())
    })
    .await
}

/// `kubectl apply --dry-run=client -o json -f deploy/kubernetes/FILE`: the objects kubectl
/// decoded, as it would send them.
async fn dry_run_apply(home: &Path, api: &FakeHttp, file: &str) -> Vec<Value> {
    let kubeconfig = home.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{server: \"{}\"}}\n\
             contexts:\n- name: fake\n  context: {{cluster: fake, user: fake}}\n\
             current-context: fake\nusers:\n- name: fake\n  user: {{}}\n",
            api.url
        ),
    )
    .unwrap();
    let path = repo().join("deploy/kubernetes").join(file);
    // --validate=false: the fake serves no OpenAPI schema to validate against.
    let output = tokio::process::Command::new("kubectl")
        .args([
            "apply",
            "--dry-run=client",
            "--validate=false",
            "-o",
            "json",
            "-f",
        ])
        .arg(&path)
        .env("KUBECONFIG", &kubeconfig)
        .env("HOME", home)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "kubectl apply --dry-run=client refused {file}: {stderr}"
    );
    let printed: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("{file}: kubectl printed no JSON ({err}): {stderr}"));
    match printed["kind"].as_str() {
        Some("List") => printed["items"].as_array().unwrap().clone(),
        _ => vec![printed],
    }
}

fn find<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} among {objects:#?}"))
}

fn str_of<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value}"))
}

/// The ConfigMap's config.toml, loaded as tokentop loads it with the Secret's variables.
fn load_config(dir: &Path, text: &str) -> Settings {
    let path = dir.join("config.toml");
    write_private(&path, text);
    let overrides = Overrides {
        config: Some(path),
        data_dir: Some(dir.join("data")),
        graph_url: None,
    };
    tokentop::config::load(&overrides, &EnvSnapshot::from_pairs(SECRET_ENV))
        .unwrap_or_else(|errors| panic!("the ConfigMap's config:\n{errors}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_manifests_pass_kubectl_and_give_eso_what_it_needs() {
    require_kubectl();
    let home = tempfile::tempdir().unwrap();
    let api = fake_api_server().await;
    let deployment = dry_run_apply(home.path(), &api, "deployment.yaml").await;
    let store_file = dry_run_apply(home.path(), &api, "secretstore.yaml").await;
    let external = dry_run_apply(home.path(), &api, "externalsecret.yaml").await;
    assert!(
        api.recorded().iter().all(|r| r.method == "GET"),
        "a dry run changed something"
    );
    let kinds: Vec<&str> = deployment
        .iter()
        .filter_map(|o| o["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "ConfigMap",
            "PersistentVolumeClaim",
            "Deployment",
            "Service",
            "NetworkPolicy"
        ]
    );

    // The embedded config passes the real `tokentop config check`, with the Secret's variables.
    let config_text = str_of(
        &find(&deployment, "ConfigMap")["data"]["config.toml"],
        "config",
    );
    let config_path = home.path().join("config.toml");
    write_private(&config_path, config_text);
    let args = ["--config", config_path.to_str().unwrap(), "config", "check"];
    let output = tokentop(home.path(), &args, &SECRET_ENV).await;
    assert_eq!(output.status.code(), Some(0), "{}", all_text(&output));
    let settings = load_config(home.path(), config_text);
    let serve = &settings.serve;
    let listen = serve.listen.expect("[serve] listen");
    assert!(serve.token_endpoint && serve.tls.is_some(), "{serve:?}");

    let (store, service) = assert_store(&store_file, &deployment, listen.port());
    assert_external_secret(find(&external, "ExternalSecret"), store, &settings);
    assert_deployment(find(&deployment, "Deployment"), &settings, service);
}

/// The SecretStore: ESO's webhook provider asking the Service for `remoteRef.key`'s token
/// with the bearer from a Secret ESO may read. Returns the store and the Service.
fn assert_store<'a>(
    store_file: &'a [Value],
    deployment: &'a [Value],
    port: u16,
) -> (&'a Value, &'a Value) {
    let store = find(store_file, "SecretStore");
    assert_eq!(store["apiVersion"], "external-secrets.io/v1");
    let webhook = &store["spec"]["provider"]["webhook"];
    let service = find(deployment, "Service");
    let host = format!(
        "https://{}.{}.svc:{port}/",
        str_of(&service["metadata"]["name"], "service name"),
        str_of(&service["metadata"]["namespace"], "service namespace")
    );
    let url = str_of(&webhook["url"], "webhook.url");
    assert_eq!(
        url,
        format!("{host}v1/accounts/{{{{ .remoteRef.key }}}}/token")
    );
    assert_eq!(service["spec"]["ports"][0]["port"], port);
    assert_eq!(webhook["result"]["jsonPath"], "$.token");
    let auth = str_of(&webhook["headers"]["Authorization"], "Authorization header");
    let (name, key) = auth
        .strip_prefix("Bearer {{ .")
        .and_then(|rest| rest.strip_suffix(" }}"))
        .and_then(|rest| rest.split_once('.'))
        .unwrap_or_else(|| panic!("not a bearer from a template secret: {auth}"));
    let secrets = webhook["secrets"].as_array().unwrap();
    let reference = secrets
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no webhook secret named {name}"));
    let secret = find(store_file, "Secret");
    assert_eq!(reference["secretRef"]["name"], secret["metadata"]["name"]);
    assert_eq!(reference["secretRef"]["key"], key);
    assert!(secret["stringData"][key].is_string(), "{secret}");
    assert_eq!(
        secret["metadata"]["labels"]["external-secrets.io/type"],
        "webhook"
    );
    assert_eq!(
        secret["metadata"]["namespace"],
        store["metadata"]["namespace"]
    );
    assert!(webhook["caProvider"]["name"].is_string(), "{webhook}");
    (store, service)
}

/// The ExternalSecret: syncs from the store, as WHATSAPP_ACCESS_TOKEN, an account some
/// reader may read.
fn assert_external_secret(external: &Value, store: &Value, settings: &Settings) {
    assert_eq!(external["apiVersion"], "external-secrets.io/v1");
    let spec = &external["spec"];
    assert_eq!(spec["secretStoreRef"]["name"], store["metadata"]["name"]);
    assert_eq!(spec["secretStoreRef"]["kind"], "SecretStore");
    assert_eq!(
        external["metadata"]["namespace"],
        store["metadata"]["namespace"]
    );
    assert!(spec["refreshInterval"].is_string(), "{spec}");
    assert_eq!(spec["target"]["deletionPolicy"], "Retain");
    let data = &spec["data"][0];
    assert_eq!(data["secretKey"], "WHATSAPP_ACCESS_TOKEN");
    let account = str_of(&data["remoteRef"]["key"], "remoteRef.key");
    assert!(
        settings.accounts.iter().any(|a| a.name == account),
        "{account} is no account of the ConfigMap's config"
    );
    assert!(
        !settings.serve.token_readers_of(account).is_empty(),
        "no reader may read {account}"
    );
}

/// The Deployment runs `daemon` on the ConfigMap's config, non-root on a read-only root,
/// with the data dir on the claim, the TLS files where the config reads them, and the port the
/// config listens on behind the Service.
fn assert_deployment(deployment: &Value, settings: &Settings, service: &Value) {
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    let container = &pod["containers"][0];
    let hardening = &container["securityContext"];
    assert_eq!(hardening["readOnlyRootFilesystem"], true);
    assert_eq!(hardening["allowPrivilegeEscalation"], false);
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let after = |flag: &str| {
        let at = args.iter().position(|a| *a == flag).unwrap();
        args[at + 1]
    };
    assert_eq!(args.last(), Some(&"daemon"));
    let mounts = container["volumeMounts"].as_array().unwrap();
    let volumes = pod["volumes"].as_array().unwrap();
    let volume_at = |path: &str| {
        let mount = mounts
            .iter()
            .find(|m| m["mountPath"] == path)
            .unwrap_or_else(|| panic!("nothing mounted at {path}"));
        volumes.iter().find(|v| v["name"] == mount["name"]).unwrap()
    };
    assert!(volume_at(after("--data-dir"))["persistentVolumeClaim"]["claimName"].is_string());
    assert_eq!(
        volume_at(after("--config"))["configMap"]["name"],
        "tokentop-config"
    );
    let tls = settings.serve.tls.as_ref().unwrap();
    let tls_dir = tls.cert.parent().unwrap().to_str().unwrap();
    assert_eq!(tls.key.parent(), tls.cert.parent());
    assert!(volume_at(tls_dir)["secret"]["secretName"].is_string());
    let port = settings.serve.listen.unwrap().port();
    assert_eq!(container["ports"][0]["containerPort"], port);
    assert_eq!(
        service["spec"]["ports"][0]["targetPort"],
        container["ports"][0]["name"]
    );
    assert_eq!(container["readinessProbe"]["httpGet"]["scheme"], "HTTPS");
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["template"]["metadata"]["labels"]
    );
}
