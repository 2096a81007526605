//! Lowering a pod to OCI specs: Kubernetes' override rules, precedence, capabilities,
//! resources, namespaces, mounts; plus a property test over generated pods.

use std::path::{Path, PathBuf};

use podrt_pod_spec::*;
use proptest::prelude::*;
use serde_json::{json, Value};

fn paths() -> SandboxPaths {
    SandboxPaths {
        netns: "/run/podrt/netns/web".into(),
        ipcns: "/run/podrt/pods/web/ipc".into(),
        utsns: "/run/podrt/pods/web/uts".into(),
        cgroup_parent: "/podrt/pods/web".into(),
        etc_hosts: "/run/podrt/pods/web/hosts".into(),
        etc_hostname: "/run/podrt/pods/web/hostname".into(),
        resolv_conf: "/run/podrt/pods/web/resolv.conf".into(),
        volumes_dir: "/run/podrt/pods/web/volumes".into(),
        dev_shm: None,
        seccomp_profile_root: "/nonexistent/podrt/seccomp".into(),
    }
}

fn image(entrypoint: Option<&[&str]>, cmd: Option<&[&str]>) -> ImageConfig {
    let v = |x: Option<&[&str]>| x.map(|a| a.iter().map(|s| s.to_string()).collect());
    ImageConfig {
        entrypoint: v(entrypoint),
        cmd: v(cmd),
        ..Default::default()
    }
}

fn pod(yaml_containers: &str) -> Pod {
    let text =
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: web}}\nspec:\n{yaml_containers}");
    match parse(&text, "pod.yml") {
        Ok((p, _)) => p,
        Err(e) => panic!("{e:#?}"),
    }
}

fn lower_with(p: &Pod, img: ImageConfig) -> Result<PodPlan, Vec<Diagnostic>> {
    lower(
        p,
        &|name| {
            (
                PathBuf::from(format!("/var/lib/podrt/rootfs/{name}")),
                img.clone(),
            )
        },
        &paths(),
    )
}

/// The first container's spec as JSON.
fn spec_of(p: &Pod, img: ImageConfig) -> Value {
    let plan = lower_with(p, img).unwrap_or_else(|e| panic!("{e:#?}"));
    serde_json::to_value(&plan.containers[0].spec).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn sorted(v: &Value) -> Vec<String> {
    let mut s = strings(v);
    s.sort();
    s
}

fn caps(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|n| format!("CAP_{n}")).collect();
    v.sort();
    v
}

const DEFAULT_CAPS: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

#[test]
fn command_and_args_override_entrypoint_and_cmd() {
    let img = || image(Some(&["/entry"]), Some(&["cmd1", "cmd2"]));
    let args = |c: &str| {
        let p = pod(&format!("  containers:\n  - {{name: app, image: i{c}}}\n"));
        strings(&spec_of(&p, img())["process"]["args"])
    };
    assert_eq!(args(""), ["/entry", "cmd1", "cmd2"]);
    assert_eq!(args(", command: [/bin/sh]"), ["/bin/sh"]);
    assert_eq!(args(", args: [x, z]"), ["/entry", "x", "z"]);
    assert_eq!(
        args(", command: [/bin/sh], args: [-c, date]"),
        ["/bin/sh", "-c", "date"]
    );
    // Only a Cmd in the image.
    let p = pod("  containers:\n  - {name: app, image: i}\n");
    assert_eq!(
        strings(&spec_of(&p, image(None, Some(&["nginx"])))["process"]["args"]),
        ["nginx"]
    );
    // Nothing at all: an error pointing at the container.
    let err = lower_with(&p, image(None, None)).unwrap_err();
    assert_eq!(
        err[0].to_string(),
        "pod.yml:6:5: spec.containers[0].command: container \"app\" has nothing to run: its \
         image has no Entrypoint or Cmd; set command"
    );
}

#[test]
fn env_precedence_and_expansion() {
    let p = pod(
        "  containers:\n  - name: app\n    image: i\n    command: [run, $(MODE), $$(MODE)]\n    env:\n    - {name: MODE, value: prod}\n    - {name: PATH, value: /opt/bin}\n    - {name: URL, value: \"http://$(HOST):80/$(MODE)\"}\n",
    );
    let img = ImageConfig {
        entrypoint: Some(vec!["/x".into()]),
        env: vec![
            "PATH=/image/bin".into(),
            "MODE=dev".into(),
            "LANG=C.UTF-8".into(),
            "junk".into(),
        ],
        ..Default::default()
    };
    let s = spec_of(&p, img);
    assert_eq!(
        strings(&s["process"]["env"]),
        [
            "PATH=/opt/bin",
            "HOSTNAME=web",
            "MODE=prod",
            "LANG=C.UTF-8",
            "URL=http://$(HOST):80/prod",
        ]
    );
    assert_eq!(strings(&s["process"]["args"]), ["run", "prod", "$(MODE)"]);
    assert_eq!(s["process"]["cwd"], "/");
    assert_eq!(s["hostname"], "web");
}

#[test]
fn working_dir_precedence() {
    let img = |w: &str| ImageConfig {
        entrypoint: Some(vec!["/x".into()]),
        working_dir: Some(w.into()),
        ..Default::default()
    };
    let p = pod("  containers:\n  - {name: app, image: i}\n");
    assert_eq!(spec_of(&p, img("/srv"))["process"]["cwd"], "/srv");
    assert_eq!(spec_of(&p, img("app"))["process"]["cwd"], "/app");
    assert_eq!(spec_of(&p, img(""))["process"]["cwd"], "/");
    let p = pod("  containers:\n  - {name: app, image: i, workingDir: /work}\n");
    assert_eq!(spec_of(&p, img("/srv"))["process"]["cwd"], "/work");
}

#[test]
fn user_precedence() {
    let img = |user: Option<&str>| ImageConfig {
        entrypoint: Some(vec!["/x".into()]),
        user: user.map(Into::into),
        ..Default::default()
    };
    let user_of = |p: &Pod, u: Option<&str>| {
        let plan = lower_with(p, img(u)).unwrap();
        let s = serde_json::to_value(&plan.containers[0].spec).unwrap();
        (
            s["process"]["user"].clone(),
            plan.containers[0].user.clone(),
        )
    };
    let plain = pod("  containers:\n  - {name: app, image: i}\n");
    let (u, l) = user_of(&plain, None);
    assert_eq!(u, json!({"uid": 0, "gid": 0}));
    assert_eq!((l.user_name, l.gid_from_passwd), (None, false));
    let (u, l) = user_of(&plain, Some("1000:2000"));
    assert_eq!(u, json!({"uid": 1000, "gid": 2000}));
    assert!(!l.gid_from_passwd);
    let (u, l) = user_of(&plain, Some("1000"));
    assert_eq!(u, json!({"uid": 1000, "gid": 0}));
    assert!(l.gid_from_passwd);
    let (u, l) = user_of(&plain, Some("nginx:www"));
    assert_eq!(u, json!({"uid": 0, "gid": 0}));
    assert_eq!(l.user_name.as_deref(), Some("nginx"));
    assert_eq!(l.group_name.as_deref(), Some("www"));
    assert!(l.merge_image_groups && l.is_needed());

    // Pod level beats the image; container level beats the pod.
    let p = pod(
        "  securityContext: {runAsUser: 1000, runAsGroup: 3000, supplementalGroups: [4000, 5000], supplementalGroupsPolicy: Strict}\n  containers:\n  - {name: a, image: i}\n  - {name: b, image: i, securityContext: {runAsUser: 2000}}\n",
    );
    let plan = lower_with(&p, img(Some("nginx:nginx"))).unwrap();
    let a = serde_json::to_value(&plan.containers[0].spec).unwrap();
    let b = serde_json::to_value(&plan.containers[1].spec).unwrap();
    assert_eq!(
        a["process"]["user"],
        json!({"uid": 1000, "gid": 3000, "additionalGids": [4000, 5000]})
    );
    assert_eq!(
        b["process"]["user"],
        json!({"uid": 2000, "gid": 3000, "additionalGids": [4000, 5000]})
    );
    assert_eq!(plan.containers[0].user, UserLookup::default());

    // runAsNonRoot is checked against what the image would run as.
    let p =
        pod("  securityContext: {runAsNonRoot: true}\n  containers:\n  - {name: app, image: i}\n");
    let err = lower_with(&p, img(None)).unwrap_err();
    assert_eq!(
        err[0].to_string(),
        "pod.yml:5:35: spec.securityContext.runAsNonRoot: runAsNonRoot is true but container \
         \"app\" would run as root (uid 0); set runAsUser"
    );
    let err = lower_with(&p, img(Some("nginx"))).unwrap_err();
    assert!(
        err[0].message.contains("\"nginx\" is not numeric"),
        "{err:?}"
    );
    assert!(lower_with(&p, img(Some("101"))).is_ok());
}

#[test]
fn capabilities_add_drop_all() {
    let caps_of = |sc: &str| {
        let p = pod(&format!(
            "  containers:\n  - {{name: app, image: i, command: [x], securityContext: {sc}}}\n"
        ));
        let s = spec_of(&p, ImageConfig::default());
        let c = &s["process"]["capabilities"];
        assert_eq!(sorted(&c["bounding"]), sorted(&c["effective"]));
        assert_eq!(sorted(&c["bounding"]), sorted(&c["permitted"]));
        assert!(strings(&c["inheritable"]).is_empty() && strings(&c["ambient"]).is_empty());
        sorted(&c["bounding"])
    };
    assert_eq!(caps_of("{}"), caps(&DEFAULT_CAPS));
    let mut plus = DEFAULT_CAPS.to_vec();
    plus.push("NET_ADMIN");
    assert_eq!(caps_of("{capabilities: {add: [NET_ADMIN]}}"), caps(&plus));
    assert_eq!(
        caps_of("{capabilities: {add: [CAP_NET_ADMIN], drop: [KILL]}}"),
        {
            let mut v = plus.clone();
            v.retain(|c| *c != "KILL");
            caps(&v)
        }
    );
    assert_eq!(
        caps_of("{capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}}"),
        caps(&["NET_BIND_SERVICE"])
    );
    let all_but_chown = caps_of("{capabilities: {add: [ALL], drop: [chown]}}");
    assert_eq!(all_but_chown.len(), 40);
    assert!(!all_but_chown.contains(&"CAP_CHOWN".to_string()));
    assert!(all_but_chown.contains(&"CAP_SYS_ADMIN".to_string()));
}

#[test]
fn privileged_and_read_only_root() {
    let p = pod("  containers:\n  - {name: app, image: i, command: [x], securityContext: {privileged: true, readOnlyRootFilesystem: true}}\n");
    let s = spec_of(&p, ImageConfig::default());
    assert_eq!(strings(&s["process"]["capabilities"]["bounding"]).len(), 41);
    assert!(s["linux"].get("seccomp").is_none());
    assert!(s["linux"]
        .get("maskedPaths")
        .is_none_or(|v| v.as_array().unwrap().is_empty()));
    assert!(s["linux"]
        .get("readonlyPaths")
        .is_none_or(|v| v.as_array().unwrap().is_empty()));
    assert_eq!(
        s["linux"]["resources"]["devices"],
        json!([{"allow": true, "access": "rwm"}])
    );
    assert_eq!(
        s["root"],
        json!({"path": "/var/lib/podrt/rootfs/app", "readonly": true})
    );
    let mount = |dest: &str| {
        s["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == dest)
            .cloned()
            .unwrap()
    };
    assert!(strings(&mount("/sys")["options"]).contains(&"rw".to_string()));
    assert!(strings(&mount("/etc/hosts")["options"]).contains(&"ro".to_string()));
    assert_eq!(s["process"]["noNewPrivileges"], false);

    // The default: masked paths, seccomp RuntimeDefault, rw root, sysfs ro.
    let p = pod("  containers:\n  - {name: app, image: i, command: [x], securityContext: {allowPrivilegeEscalation: false}}\n");
    let s = spec_of(&p, ImageConfig::default());
    assert!(strings(&s["linux"]["maskedPaths"]).contains(&"/proc/kcore".to_string()));
    assert!(strings(&s["linux"]["readonlyPaths"]).contains(&"/proc/sys".to_string()));
    assert_eq!(s["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(s["root"]["readonly"], false);
    assert_eq!(s["process"]["noNewPrivileges"], true);
    assert_eq!(
        s["linux"]["resources"]["devices"],
        json!([{"allow": false, "access": "rwm"}])
    );
}

#[test]
fn seccomp_profiles() {
    let seccomp_of = |sc: &str, paths: &SandboxPaths| {
        let p = pod(&format!(
            "  containers:\n  - {{name: app, image: i, command: [x], securityContext: {sc}}}\n"
        ));
        lower(
            &p,
            &|_| (PathBuf::from("/r"), ImageConfig::default()),
            paths,
        )
        .map(|plan| {
            plan.containers[0]
                .spec
                .linux()
                .as_ref()
                .unwrap()
                .seccomp()
                .clone()
        })
    };
    let mut paths = paths();
    assert_eq!(
        seccomp_of("{}", &paths).unwrap(),
        Some(runtime_default_seccomp())
    );
    assert_eq!(
        seccomp_of("{seccompProfile: {type: Unconfined}}", &paths).unwrap(),
        None
    );
    let sc = "{seccompProfile: {type: Localhost, localhostProfile: profiles/audit.json}}";
    let err = seccomp_of(sc, &paths).unwrap_err();
    assert_eq!(
        err[0].to_string(),
        "pod.yml:6:111: spec.containers[0].securityContext.seccompProfile.localhostProfile: \
         cannot read seccomp profile /nonexistent/podrt/seccomp/profiles/audit.json: No such \
         file or directory (os error 2)"
    );
    let root = std::env::temp_dir().join(format!("podrt-seccomp-{}", std::process::id()));
    std::fs::create_dir_all(root.join("profiles")).unwrap();
    let text = r#"{"defaultAction": "SCMP_ACT_LOG"}"#;
    std::fs::write(root.join("profiles/audit.json"), text).unwrap();
    paths.seccomp_profile_root = root.clone();
    let local = parse_seccomp_profile(text).unwrap();
    assert_eq!(seccomp_of(sc, &paths).unwrap(), Some(local));
    std::fs::write(root.join("profiles/audit.json"), "{").unwrap();
    let err = seccomp_of(sc, &paths).unwrap_err();
    assert!(
        err[0].message.contains("is not an OCI seccomp profile"),
        "{err:?}"
    );
    std::fs::remove_dir_all(&root).unwrap();
    // Adding SYS_ADMIN widens RuntimeDefault (mount allowed).
    let s = seccomp_of("{capabilities: {add: [SYS_ADMIN]}}", &paths)
        .unwrap()
        .unwrap();
    let has_mount = s
        .syscalls()
        .as_ref()
        .unwrap()
        .iter()
        .any(|r| r.names().iter().any(|n| n == "mount"));
    assert!(has_mount);
}

#[test]
fn resources_convert_like_kubernetes() {
    let res = |r: &str| {
        let p = pod(&format!(
            "  containers:\n  - {{name: app, image: i, command: [x], resources: {r}}}\n"
        ));
        spec_of(&p, ImageConfig::default())["linux"]["resources"].clone()
    };
    let r = res("{limits: {cpu: 500m, memory: 128Mi}, requests: {cpu: 250m, memory: 64Mi}}");
    assert_eq!(
        r["memory"],
        json!({"limit": 134217728, "reservation": 67108864})
    );
    assert_eq!(
        r["cpu"],
        json!({"shares": 256, "quota": 50000, "period": 100000})
    );
    // Requests default to limits.
    let r = res("{limits: {cpu: 2, memory: 1G}}");
    assert_eq!(
        r["memory"],
        json!({"limit": 1000000000, "reservation": 1000000000})
    );
    assert_eq!(
        r["cpu"],
        json!({"shares": 2048, "quota": 200000, "period": 100000})
    );
    // Requests only: shares and reservation, no hard limits.
    let r = res("{requests: {cpu: '0.1', memory: 1e3}}");
    assert_eq!(r["memory"], json!({"reservation": 1000}));
    assert_eq!(r["cpu"], json!({"shares": 102}));
    // Nothing: Kubernetes' BestEffort shares.
    let r = res("{}");
    assert!(r.get("memory").is_none());
    assert_eq!(r["cpu"], json!({"shares": 2}));
    // The smallest CPU limit still gets a 1 ms quota.
    assert_eq!(res("{limits: {cpu: 1m}}")["cpu"]["quota"], 1000);
}

#[test]
fn namespaces_cgroups_and_mounts() {
    let p = pod(
        "  hostname: front\n  volumes:\n  - {name: docroot, emptyDir: {medium: Memory, sizeLimit: 64Mi}}\n  - {name: logs, hostPath: {path: /var/log/web, type: DirectoryOrCreate}}\n  containers:\n  - name: app\n    image: i\n    command: [x]\n    ports: [{containerPort: 80, hostPort: 8080}, {containerPort: 53, protocol: UDP}]\n    volumeMounts:\n    - {name: docroot, mountPath: /var/www/html/sub, subPath: site/a, readOnly: true}\n    - {name: docroot, mountPath: /var/www}\n    - {name: logs, mountPath: /var/log/nginx, mountPropagation: HostToContainer}\n    - {name: logs, mountPath: /etc/resolv.conf, subPath: resolv.conf}\n",
    );
    let mut sp = paths();
    sp.dev_shm = Some("/run/podrt/pods/web/shm".into());
    let plan = lower(&p, &|_| (PathBuf::from("/r"), ImageConfig::default()), &sp).unwrap();
    let s = serde_json::to_value(&plan.containers[0].spec).unwrap();
    assert_eq!(
        s["linux"]["namespaces"],
        json!([
            {"type": "pid"},
            {"type": "network", "path": "/run/podrt/netns/web"},
            {"type": "ipc", "path": "/run/podrt/pods/web/ipc"},
            {"type": "uts", "path": "/run/podrt/pods/web/uts"},
            {"type": "mount"},
            {"type": "cgroup"},
        ])
    );
    assert_eq!(s["linux"]["cgroupsPath"], "/podrt/pods/web/app");
    assert_eq!(s["hostname"], "front");
    let mounts: Vec<(String, String, Vec<String>)> = s["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["destination"].as_str().unwrap().to_string(),
                m["source"].as_str().unwrap_or("").to_string(),
                strings(&m["options"]),
            )
        })
        .collect();
    let dests: Vec<&str> = mounts.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(
        dests,
        [
            "/proc",
            "/dev",
            "/dev/pts",
            "/dev/mqueue",
            "/sys",
            "/sys/fs/cgroup",
            "/dev/shm",
            "/etc/hosts",
            "/etc/hostname",
            "/var/www",
            "/etc/resolv.conf",
            "/var/log/nginx",
            "/var/www/html/sub",
        ]
    );
    let find = |d: &str| mounts.iter().find(|m| m.0 == d).unwrap().clone();
    assert_eq!(find("/dev/shm").1, "/run/podrt/pods/web/shm");
    assert_eq!(
        find("/etc/hosts"),
        (
            "/etc/hosts".into(),
            "/run/podrt/pods/web/hosts".into(),
            vec!["rbind".into(), "rprivate".into(), "rw".into()]
        )
    );
    assert_eq!(
        find("/var/www/html/sub"),
        (
            "/var/www/html/sub".into(),
            "/run/podrt/pods/web/volumes/docroot/site/a".into(),
            vec!["rbind".into(), "rprivate".into(), "ro".into()]
        )
    );
    assert_eq!(find("/var/www").1, "/run/podrt/pods/web/volumes/docroot");
    assert_eq!(find("/var/log/nginx").1, "/var/log/web");
    assert_eq!(find("/var/log/nginx").2[1], "rslave");
    // The user's /etc/resolv.conf replaces the sandbox's.
    assert_eq!(find("/etc/resolv.conf").1, "/var/log/web/resolv.conf");
    assert_eq!(plan.containers[0].sub_paths.len(), 2);
    assert_eq!(
        plan.containers[0].sub_paths[0].base,
        Path::new("/run/podrt/pods/web/volumes/docroot")
    );

    let sb = &plan.sandbox;
    assert_eq!(sb.name, "web");
    assert_eq!(sb.hostname, "front");
    assert_eq!(
        sb.port_mappings,
        vec![PortMapping {
            host_port: 8080,
            container_port: 80,
            protocol: Protocol::Tcp,
            container: "app".into()
        }]
    );
    assert_eq!(
        sb.empty_dirs,
        vec![EmptyDirPlan {
            name: "docroot".into(),
            path: "/run/podrt/pods/web/volumes/docroot".into(),
            medium: StorageMedium::Memory,
            size_limit: Some(64 << 20),
        }]
    );
    assert_eq!(
        sb.host_paths,
        vec![HostPathPlan {
            volume: "logs".into(),
            path: "/var/log/web".into(),
            kind: HostPathType::DirectoryOrCreate
        }]
    );
    assert_eq!(sb.restart_policy, RestartPolicy::Always);
    assert_eq!(sb.termination_grace_period_seconds, 30);
}

#[test]
fn reference_pod_lowers() {
    let (p, _) = load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/nginx-php.yml"
    )))
    .unwrap();
    let plan = lower(
        &p,
        &|name| {
            let cfg = match name {
                "nginx" => image(
                    Some(&["/docker-entrypoint.sh"]),
                    Some(&["nginx", "-g", "daemon off;"]),
                ),
                "php-fpm" => image(Some(&["docker-php-entrypoint"]), Some(&["php-fpm"])),
                _ => image(None, Some(&["sh"])),
            };
            (PathBuf::from(format!("/rootfs/{name}")), cfg)
        },
        &paths(),
    )
    .unwrap();
    let names: Vec<(&str, bool)> = plan
        .containers
        .iter()
        .map(|c| (c.name.as_str(), c.init))
        .collect();
    assert_eq!(
        names,
        [("seed", true), ("nginx", false), ("php-fpm", false)]
    );
    assert_eq!(plan.sandbox.port_mappings.len(), 1);
    assert_eq!(
        plan.containers[1]
            .probes
            .readiness
            .as_ref()
            .unwrap()
            .period_seconds,
        2
    );
    assert_eq!(
        plan.containers[0]
            .spec
            .process()
            .as_ref()
            .unwrap()
            .args()
            .as_ref()
            .unwrap(),
        &[
            "sh",
            "-c",
            "echo '<?php echo 42;' > /var/www/html/index.php"
        ]
    );
    for c in &plan.containers {
        let text = serde_json::to_string(&c.spec).unwrap();
        let back: oci_spec::runtime::Spec = serde_json::from_str(&text).unwrap();
        assert_eq!(back, c.spec);
    }
}

// --- property test over generated pods --------------------------------------------------------

fn arb_words() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("[ -~]{1,12}", 0..4)
}

fn arb_container(i: usize, volumes: Vec<String>) -> impl Strategy<Value = Container> {
    let cap_names = prop::sample::select(vec![
        "ALL",
        "NET_ADMIN",
        "CHOWN",
        "SYS_ADMIN",
        "KILL",
        "SYS_PTRACE",
    ]);
    (
        (
            proptest::option::of(arb_words()),
            proptest::option::of(arb_words()),
            proptest::collection::vec(("[A-Z_]{1,6}", "[ -~]{0,10}"), 0..4),
            proptest::option::of("/[a-z/]{0,10}"),
        ),
        (
            proptest::option::of(0u64..100_000),
            proptest::option::of(0u64..100_000),
            proptest::option::of(0u64..(1u64 << 40)),
            proptest::option::of(0u64..(1u64 << 40)),
        ),
        (
            proptest::collection::vec(cap_names.clone().prop_map(String::from), 0..3),
            proptest::collection::vec(cap_names.prop_map(String::from), 0..3),
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(0u32..70_000),
            proptest::option::of(any::<bool>()),
            proptest::option::of(prop::sample::select(vec![
                SeccompProfile::RuntimeDefault,
                SeccompProfile::Unconfined,
            ])),
        ),
        proptest::collection::vec(
            (
                0..volumes.len().max(1),
                "/[a-z]{1,8}",
                any::<bool>(),
                proptest::option::of("[a-z]{1,5}(/[a-z]{1,5})?"),
            ),
            0..3,
        ),
    )
        .prop_map(move |(proc_, res, sec, mounts)| {
            let (command, args, env, working_dir) = proc_;
            let (cl, cr, ml, mr) = res;
            let (add, drop, privileged, ro, uid, ape, seccomp) = sec;
            let mut volume_mounts = Vec::new();
            if !volumes.is_empty() {
                for (j, (v, path, read_only, sub_path)) in mounts.into_iter().enumerate() {
                    volume_mounts.push(VolumeMount {
                        name: volumes[v % volumes.len()].clone(),
                        mount_path: format!("{path}{j}"),
                        read_only,
                        sub_path,
                        propagation: MountPropagation::None,
                    });
                }
            }
            Container {
                name: format!("c{i}"),
                image: "img".into(),
                command: command.filter(|c| !c.is_empty()),
                args: args.filter(|a| !a.is_empty()),
                env,
                working_dir,
                ports: vec![],
                resources: Resources {
                    cpu_limit_millis: cl,
                    cpu_request_millis: cr,
                    memory_limit_bytes: ml,
                    memory_request_bytes: mr,
                },
                readiness_probe: None,
                liveness_probe: None,
                startup_probe: None,
                security_context: SecurityContext {
                    capabilities: CapabilityChanges { add, drop },
                    run_as_user: uid,
                    run_as_group: None,
                    run_as_non_root: None,
                    read_only_root_filesystem: ro,
                    privileged,
                    allow_privilege_escalation: ape,
                    seccomp_profile: seccomp,
                    proc_mount_unmasked: false,
                },
                volume_mounts,
            }
        })
}

fn arb_pod() -> impl Strategy<Value = Pod> {
    (
        "[a-z][a-z0-9]{0,12}",
        proptest::option::of("[a-z][a-z0-9-]{0,8}[a-z]"),
        proptest::collection::vec((any::<bool>(), "[a-z]{1,6}"), 0..3),
        0usize..2,
        1usize..4,
    )
        .prop_flat_map(|(name, hostname, vols, n_init, n_app)| {
            let volumes: Vec<Volume> = vols
                .iter()
                .enumerate()
                .map(|(i, (mem, host))| Volume {
                    name: format!("v{i}"),
                    source: if *mem {
                        VolumeSource::EmptyDir {
                            medium: StorageMedium::Memory,
                            size_limit: Some(1 << 20),
                        }
                    } else {
                        VolumeSource::HostPath {
                            path: format!("/{host}"),
                            kind: HostPathType::Unset,
                        }
                    },
                })
                .collect();
            let names: Vec<String> = volumes.iter().map(|v| v.name.clone()).collect();
            let containers: Vec<_> = (0..n_init + n_app)
                .map(|i| arb_container(i, names.clone()))
                .collect();
            (
                Just(name),
                Just(hostname),
                Just(volumes),
                Just(n_init),
                containers,
            )
        })
        .prop_map(|(name, hostname, volumes, n_init, mut all)| {
            let containers = all.split_off(n_init);
            Pod {
                name,
                hostname,
                init_containers: all,
                containers,
                volumes,
                ..Default::default()
            }
        })
}

fn arb_image() -> impl Strategy<Value = ImageConfig> {
    (
        proptest::collection::vec("[ -~]{1,8}", 1..3),
        proptest::option::of(arb_words()),
        proptest::collection::vec("[A-Z]{1,4}=[ -~]{0,6}|[ -~]{0,6}", 0..4),
        proptest::option::of("[a-z/]{0,8}"),
        proptest::option::of("[0-9]{1,5}(:[0-9]{1,5})?|[a-z]{1,6}(:[a-z]{1,6})?"),
    )
        .prop_map(|(entrypoint, cmd, env, working_dir, user)| ImageConfig {
            entrypoint: Some(entrypoint),
            cmd,
            env,
            working_dir,
            user,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn lowering_any_valid_pod_gives_runnable_specs(pod in arb_pod(), img in arb_image()) {
        let plan = lower(&pod, &|name| (PathBuf::from(format!("/rootfs/{name}")), img.clone()), &paths());
        let plan = match plan {
            Ok(p) => p,
            Err(e) => return Err(TestCaseError::fail(format!("{e:#?}"))),
        };
        prop_assert_eq!(plan.containers.len(), pod.init_containers.len() + pod.containers.len());
        prop_assert_eq!(&plan.sandbox.hostname, pod.effective_hostname());
        for c in &plan.containers {
            let text = serde_json::to_string(&c.spec).unwrap();
            let back: oci_spec::runtime::Spec = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(&back, &c.spec);
            let process = c.spec.process().as_ref().unwrap();
            prop_assert!(!process.args().as_ref().unwrap().is_empty());
            prop_assert!(process.cwd().is_absolute());
            prop_assert_eq!(c.spec.hostname().as_deref(), Some(pod.effective_hostname()));
            let linux = c.spec.linux().as_ref().unwrap();
            let expected_cgroup = format!("/podrt/pods/web/{}", c.name);
            prop_assert_eq!(linux.cgroups_path().as_deref(), Some(Path::new(&expected_cgroup)));
            for m in c.spec.mounts().as_ref().unwrap() {
                prop_assert!(m.destination().is_absolute());
            }
        }
    }
}
