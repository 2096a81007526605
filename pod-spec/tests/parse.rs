//! pod.yml parsing and validation: the reference pod, and bad manifests with their exact
//! diagnostics (file:line:column: path: message).

use std::path::Path;

use podrt_pod_spec::*;
use proptest::prelude::*;

fn errors(text: &str) -> Vec<String> {
    match parse(text, "pod.yml") {
        Ok((pod, _)) => panic!("expected errors, got {pod:#?}"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

fn ok(text: &str) -> (Pod, Vec<String>) {
    match parse(text, "pod.yml") {
        Ok((pod, w)) => (pod, w.iter().map(ToString::to_string).collect()),
        Err(e) => panic!(
            "unexpected errors:\n{}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

#[track_caller]
fn assert_lines(got: Vec<String>, want: &[&str]) {
    assert_eq!(
        got,
        want.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        "\ngot:\n{}\n",
        got.join("\n")
    );
}

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/nginx-php.yml");

#[test]
fn reference_pod_parses() {
    let (pod, warnings) = load(Path::new(FIXTURE)).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(pod.name, "nginx-php");
    assert_eq!(pod.labels["app.kubernetes.io/part-of"], "podrt-tests");
    assert_eq!(pod.termination_grace_period_seconds, 10);
    assert_eq!(pod.restart_policy, RestartPolicy::Always);
    assert_eq!(pod.init_containers.len(), 1);
    assert_eq!(
        pod.init_containers[0].command.as_deref().unwrap(),
        ["sh", "-c"]
    );
    let [nginx, php] = &pod.containers[..] else {
        panic!("two containers")
    };
    assert_eq!(nginx.image, "oci:/var/cache/podrt-test/images/nginx:latest");
    assert_eq!(
        nginx.ports,
        vec![Port {
            name: Some("http".into()),
            container_port: 80,
            host_port: Some(8080),
            protocol: Protocol::Tcp
        }]
    );
    assert_eq!(
        nginx.resources,
        Resources {
            cpu_limit_millis: Some(500),
            cpu_request_millis: Some(100),
            memory_limit_bytes: Some(128 << 20),
            memory_request_bytes: Some(64 << 20),
        }
    );
    let readiness = nginx.readiness_probe.as_ref().unwrap();
    assert_eq!(
        readiness.action,
        ProbeAction::HttpGet {
            path: "/".into(),
            port: 80, // the named port, resolved
            host: None,
            headers: vec![]
        }
    );
    assert_eq!(
        (
            readiness.initial_delay_seconds,
            readiness.period_seconds,
            readiness.timeout_seconds
        ),
        (1, 2, 1)
    );
    let liveness = nginx.liveness_probe.as_ref().unwrap();
    assert_eq!(liveness.failure_threshold, 5);
    assert_eq!(liveness.period_seconds, 10);
    assert!(
        matches!(&liveness.action, ProbeAction::HttpGet { headers, .. }
        if headers == &[("X-Probe".to_string(), "liveness".to_string())])
    );
    assert!(nginx.volume_mounts[0].read_only);
    assert_eq!(php.env, vec![("PHP_FPM_LISTEN".into(), "9000".into())]);
    assert_eq!(php.ports[0].host_port, None);
    // Requests default to limits.
    assert_eq!(php.resources.cpu_request_millis, Some(1000));
    assert_eq!(php.resources.memory_request_bytes, Some(256 << 20));
    assert_eq!(
        php.liveness_probe.as_ref().unwrap().action,
        ProbeAction::TcpSocket {
            port: 9000,
            host: None
        }
    );
    assert_eq!(
        pod.volumes,
        vec![Volume {
            name: "docroot".into(),
            source: VolumeSource::EmptyDir {
                medium: StorageMedium::Default,
                size_limit: None
            }
        }]
    );
    assert_eq!(
        pod.source.pos("spec.containers[1].ports[0].containerPort"),
        (64, 26)
    );
}

#[test]
fn the_issue_example() {
    let text = "\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: a
    image: img
  - name: b
    image: img
    ports:
    - name: http
      containerPort:
        70000
";
    assert_lines(
        errors(text),
        &["pod.yml:14:9: spec.containers[1].ports[0].containerPort: must be between 1 and 65535"],
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = "\
apiVersion: v1
kind: Pod
metadata:
  name: Web_Server
spec:
  restartPolicy: Sometimes
  containers:
  - name: app
    image: img
    contianerPort: 80
    ports:
    - containerPort: \"80\"
    env:
    - name: LEVEL
      value: 3
    resources:
      limits:
        cpu: 500x
        memory: 1Gb
  - name: app
    volumeMounts:
    - name: data
      mountPath: var/data
";
    assert_lines(
        errors(text),
        &[
            "pod.yml:4:9: metadata.name: \"Web_Server\" is not a valid DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit",
            "pod.yml:6:18: spec.restartPolicy: \"Sometimes\" is not one of \"Always\", \"OnFailure\", \"Never\"",
            "pod.yml:10:5: spec.containers[0].contianerPort: unknown field \"contianerPort\"",
            "pod.yml:12:22: spec.containers[0].ports[0].containerPort: expected an integer, found a string",
            "pod.yml:15:14: spec.containers[0].env[0].value: expected a string, found an integer (quote it: \"3\")",
            "pod.yml:18:14: spec.containers[0].resources.limits.cpu: \"500x\" is not a Kubernetes quantity (examples: 500m, 0.5, 2, 128Mi, 1G, 1e3)",
            "pod.yml:19:17: spec.containers[0].resources.limits.memory: \"1Gb\" is not a Kubernetes quantity (examples: 500m, 0.5, 2, 128Mi, 1G, 1e3)",
            "pod.yml:20:5: spec.containers[1].image: is required",
            "pod.yml:20:11: spec.containers[1].name: duplicate container name \"app\" (first at line 8); names must be unique across initContainers and containers",
            "pod.yml:22:13: spec.containers[1].volumeMounts[0].name: volume \"data\" is not declared in spec.volumes",
            "pod.yml:23:18: spec.containers[1].volumeMounts[0].mountPath: \"var/data\" must be an absolute path",
        ],
    );
}

#[test]
fn cluster_only_fields_warn_once_each() {
    let text = "\
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: prod
spec:
  serviceAccountName: web
  nodeSelector:
    disk: ssd
  dnsPolicy: ClusterFirst
  tolerations: []
  containers:
  - name: app
    image: img
    imagePullPolicy: IfNotPresent
    terminationMessagePolicy: File
status:
  phase: Running
";
    let (pod, warnings) = ok(text);
    assert_eq!(pod.name, "web");
    assert_lines(
        warnings,
        &[
            "pod.yml:5:3: metadata.namespace: ignored: only meaningful to a Kubernetes cluster",
            "pod.yml:7:3: spec.serviceAccountName: ignored: only meaningful to a Kubernetes cluster",
            "pod.yml:8:3: spec.nodeSelector: ignored: only meaningful to a Kubernetes cluster",
            "pod.yml:10:3: spec.dnsPolicy: ignored: only meaningful to a Kubernetes cluster",
            "pod.yml:11:3: spec.tolerations: ignored: only meaningful to a Kubernetes cluster",
            "pod.yml:15:5: spec.containers[0].imagePullPolicy: ignored: only meaningful to a Kubernetes cluster",
            "pod.yml:16:5: spec.containers[0].terminationMessagePolicy: ignored: only meaningful to a Kubernetes cluster",
            "pod.yml:17:1: status: ignored: only meaningful to a Kubernetes cluster",
        ],
    );
}

#[test]
fn unsupported_fields_are_errors_naming_them() {
    let text = "\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  hostNetwork: true
  readinessGates:
  - conditionType: ready
  ephemeralContainers: []
  securityContext:
    fsGroup: 2000
  volumes:
  - name: cfg
    configMap:
      name: cfg
  containers:
  - name: app
    image: img
    envFrom:
    - configMapRef:
        name: cfg
    env:
    - name: TOKEN
      valueFrom:
        secretKeyRef: {name: s, key: k}
    lifecycle:
      preStop:
        exec: {command: [sleep, '1']}
    readinessProbe:
      httpGet:
        port: 8443
        scheme: HTTPS
    livenessProbe:
      grpc:
        port: 9000
    volumeMounts:
    - name: cfg
      mountPath: /etc/cfg
";
    assert_lines(
        errors(text),
        &[
            "pod.yml:6:16: spec.hostNetwork: true is not supported by podrt: the pod always gets its own network namespace",
            "pod.yml:7:3: spec.readinessGates: not supported by podrt: readiness gates need a controller to set their conditions",
            "pod.yml:9:3: spec.ephemeralContainers: ephemeral containers are not supported by podrt",
            "pod.yml:11:5: spec.securityContext.fsGroup: not supported by podrt: volume ownership is never changed; use runAsGroup or supplementalGroups",
            "pod.yml:14:5: spec.volumes[0].configMap: configMap volumes are not supported by podrt (supported: emptyDir, hostPath)",
            "pod.yml:19:5: spec.containers[0].envFrom: not supported by podrt: there are no ConfigMaps or Secrets; list the variables under env",
            "pod.yml:24:7: spec.containers[0].env[0].valueFrom: not supported by podrt (no Secrets, ConfigMaps or downward API); use value",
            "pod.yml:26:5: spec.containers[0].lifecycle: postStart and preStop hooks are not supported by podrt",
            "pod.yml:32:17: spec.containers[0].readinessProbe.httpGet.scheme: HTTPS probes are not supported by podrt (only HTTP)",
            "pod.yml:34:7: spec.containers[0].livenessProbe.grpc: gRPC probes are not supported by podrt; use exec, httpGet or tcpSocket",
        ],
    );
}

#[test]
fn other_kinds_and_documents() {
    let deployment = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  template: {}
";
    assert_lines(
        errors(deployment),
        &[
            "pod.yml:1:13: apiVersion: apiVersion \"apps/v1\" is not supported: a Pod is \"v1\"",
            "pod.yml:2:7: kind: kind Deployment is not supported: podrt runs a single Pod; use the pod template (spec.template) as a Pod manifest with apiVersion: v1 and kind: Pod",
        ],
    );
    let two = "\
apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  containers: [{name: a, image: i}]
---
apiVersion: v1
kind: Pod
metadata: {name: b}
spec:
  containers: [{name: b, image: i}]
";
    assert_lines(
        errors(two),
        &["pod.yml:7:1: the file holds more than one YAML document; podrt runs exactly one Pod per file"],
    );
    assert_lines(
        errors("metadata: {name: a}\nspec: {containers: [{name: a, image: i}]}\n"),
        &[
            "pod.yml:1:1: kind: is required",
            "pod.yml:1:1: apiVersion: is required",
        ],
    );
    assert_lines(errors(""), &["pod.yml:1:1: the file holds no Pod manifest"]);
    assert_lines(
        errors("# only a comment\n"),
        &["pod.yml:1:1: the file holds no Pod manifest"],
    );
    assert_lines(
        errors("- a\n- b\n"),
        &["pod.yml:1:1: expected a Pod manifest (a mapping with apiVersion, kind, metadata and spec), found a list"],
    );
    assert_lines(
        errors("apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a, image: [i}\n"),
        &["pod.yml:3:40: invalid YAML: while parsing a flow sequence, expected ',' or ']'"],
    );
    // A trailing document marker is not a second document.
    ok("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: a, image: i}]}\n---\n");
}

#[test]
fn wrong_types() {
    let text = "\
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: [a, b]
spec:
  terminationGracePeriodSeconds: -1
  containers:
  - name: app
    image: img
    command: sh -c true
    args: [1, two]
    securityContext:
      privileged: \"yes\"
      runAsUser: 1.5
    ports:
      containerPort: 80
";
    assert_lines(
        errors(text),
        &[
            "pod.yml:5:11: metadata.labels: expected a mapping, found a list",
            "pod.yml:7:34: spec.terminationGracePeriodSeconds: must be greater than or equal to 0",
            "pod.yml:11:14: spec.containers[0].command: expected a list, found a string",
            "pod.yml:12:12: spec.containers[0].args[0]: expected a string, found an integer (quote it: \"1\")",
            "pod.yml:14:19: spec.containers[0].securityContext.privileged: expected a boolean, found a string",
            "pod.yml:15:18: spec.containers[0].securityContext.runAsUser: expected an integer, found a number",
            "pod.yml:17:7: spec.containers[0].ports: expected a list, found a mapping",
        ],
    );
}

#[test]
fn duplicates() {
    let text = "\
apiVersion: v1
kind: Pod
metadata:
  name: web
  name: web2
spec:
  volumes:
  - name: data
  - name: data
  initContainers:
  - name: app
    image: img
  containers:
  - name: app
    image: img
    ports:
    - {containerPort: 80, hostPort: 8080}
    - {containerPort: 80, protocol: UDP}
    volumeMounts:
    - {name: data, mountPath: /data}
    - {name: data, mountPath: /data/}
  - name: side
    image: img
    ports:
    - {containerPort: 80, hostPort: 8080}
";
    assert_lines(
        errors(text),
        &[
            "pod.yml:5:3: duplicate key \"name\" (first at line 4)",
            "pod.yml:9:11: spec.volumes[1].name: duplicate volume name \"data\" (first at line 8)",
            "pod.yml:14:11: spec.containers[0].name: duplicate container name \"app\" (first at line 11); names must be unique across initContainers and containers",
            "pod.yml:21:31: spec.containers[0].volumeMounts[1].mountPath: \"/data/\" is mounted twice (first at line 20)",
            "pod.yml:25:23: spec.containers[1].ports[0].containerPort: duplicate port 80/TCP (first at line 17); the pod's containers share one network namespace",
            "pod.yml:25:37: spec.containers[1].ports[0].hostPort: duplicate host port 8080/TCP (first at line 17)",
        ],
    );
}

#[test]
fn bad_quantities_and_resources() {
    let text = "\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: app
    image: img
    resources:
      limits:
        cpu: 1
        memory: -1Gi
        nvidia.com/gpu: 1
        ephemeral-storage: 1Gi
      requests:
        cpu: 2
        memroy: 1Mi
  volumes:
  - name: scratch
    emptyDir:
      medium: Memory
      sizeLimit: 1e400
";
    assert_lines(
        errors(text),
        &[
            "pod.yml:12:17: spec.containers[0].resources.limits.memory: must not be negative",
            "pod.yml:13:9: spec.containers[0].resources.limits[\"nvidia.com/gpu\"]: resource \"nvidia.com/gpu\" is not supported by podrt (supported: cpu, memory)",
            "pod.yml:14:9: spec.containers[0].resources.limits.ephemeral-storage: ephemeral-storage is not supported by podrt (supported: cpu, memory)",
            "pod.yml:16:14: spec.containers[0].resources.requests.cpu: must be less than or equal to the cpu limit",
            "pod.yml:17:9: spec.containers[0].resources.requests.memroy: resource \"memroy\" is not supported by podrt (supported: cpu, memory); did you mean \"memory\"?",
            "pod.yml:22:18: spec.volumes[0].emptyDir.sizeLimit: \"1e400\" is too large",
        ],
    );
}

#[test]
fn probes_and_security() {
    let text = "\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  securityContext:
    runAsNonRoot: true
    sysctls:
    - {name: vm.swappiness, value: '10'}
    - {name: net.core.somaxconn, value: '1024'}
  initContainers:
  - name: init
    image: img
    readinessProbe:
      exec: {command: [true]}
  containers:
  - name: app
    image: img
    ports:
    - {name: http, containerPort: 8080}
    readinessProbe:
      httpGet: {port: metrics}
    livenessProbe:
      tcpSocket: {port: 8080}
      exec: {command: [check]}
      successThreshold: 2
    startupProbe:
      periodSeconds: 1
    securityContext:
      runAsUser: 0
      privileged: true
      allowPrivilegeEscalation: false
      capabilities:
        add: [NET_ADMIN, CAP_SYS_TIME, NET_ADMN]
      seccompProfile:
        type: Localhost
";
    assert_lines(
        errors(text),
        &[
            "pod.yml:9:14: spec.securityContext.sysctls[0].name: \"vm.swappiness\" is not namespaced: setting it would change the host (allowed: net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*)",
            "pod.yml:15:7: spec.initContainers[0].readinessProbe: init containers cannot have probes",
            "pod.yml:22:23: spec.containers[0].readinessProbe.httpGet.port: named port \"metrics\" is not declared in this container's ports",
            "pod.yml:25:7: spec.containers[0].livenessProbe.exec: a probe takes exactly one handler (exec, httpGet or tcpSocket)",
            "pod.yml:26:25: spec.containers[0].livenessProbe.successThreshold: must be 1 for liveness and startup probes",
            "pod.yml:28:7: spec.containers[0].startupProbe: a probe needs one handler: exec, httpGet or tcpSocket",
            "pod.yml:30:18: spec.containers[0].securityContext.runAsUser: runAsNonRoot is true but runAsUser is 0 (root)",
            "pod.yml:32:33: spec.containers[0].securityContext.allowPrivilegeEscalation: cannot be false when privileged is true",
            "pod.yml:34:40: spec.containers[0].securityContext.capabilities.add[2]: unknown capability \"NET_ADMN\"; did you mean \"NET_ADMIN\"?",
            "pod.yml:36:9: spec.containers[0].securityContext.seccompProfile.localhostProfile: is required for type Localhost",
        ],
    );
}

#[test]
fn sctp_host_ports_and_terminals_are_refused() {
    let text = "\
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - name: app
    image: img
    tty: true
    stdin: false
    ports:
    - {containerPort: 9, protocol: SCTP}
    - {containerPort: 10, protocol: SCTP, hostPort: 10}
";
    assert_lines(
        errors(text),
        &[
            "pod.yml:8:10: spec.containers[0].tty: true is not supported by podrt: containers run without a terminal or stdin",
            "pod.yml:12:53: spec.containers[0].ports[1].hostPort: SCTP host ports are not supported by podrt (only TCP and UDP)",
        ],
    );
}

#[test]
fn unknown_fields_get_hints() {
    let text = "\
apiVersion: v1
kind: Pod
metadata:
  name: web
  label: {a: b}
spec:
  containers:
  - name: app
    image: img
    volumeMount: []
    readinessProbe:
      httpGet: {port: 80, paht: /healthz}
    securityContext:
      readOnlyRootFileSystem: true
    banana: 1
";
    assert_lines(
        errors(text),
        &[
            "pod.yml:5:3: metadata.label: unknown field \"label\"; did you mean \"labels\"?",
            "pod.yml:10:5: spec.containers[0].volumeMount: unknown field \"volumeMount\"; did you mean \"volumeMounts\"?",
            "pod.yml:12:27: spec.containers[0].readinessProbe.httpGet.paht: unknown field \"paht\"; did you mean \"path\"?",
            "pod.yml:14:7: spec.containers[0].securityContext.readOnlyRootFileSystem: unknown field \"readOnlyRootFileSystem\"; did you mean \"readOnlyRootFilesystem\"?",
            "pod.yml:15:5: spec.containers[0].banana: unknown field \"banana\"",
        ],
    );
}

#[test]
fn defaults_and_yaml_features() {
    let text = "\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  hostname: front
  securityContext:
    runAsUser: 1000
    supplementalGroups: [10, 20]
    seccompProfile: {type: Unconfined}
  volumes:
  - name: scratch
  - name: host
    hostPath: {path: /srv/data, type: DirectoryOrCreate}
  containers:
  - &base
    name: app
    image: img
    command: []
    workingDir: /srv
    env:
    - {name: A, value: x}
    - {name: B, value: $(A)-y}
    readinessProbe:
      exec: {command: [cat, /tmp/ready]}
      periodSeconds: 0
    securityContext:
      capabilities: {drop: [ALL], add: [cap_net_bind_service]}
      seccompProfile: {type: RuntimeDefault}
    volumeMounts:
    - {name: scratch, mountPath: /scratch, subPath: a/b}
    - {name: host, mountPath: /data, mountPropagation: HostToContainer}
  - <<: *base
    name: app2
    readinessProbe: null
";
    let (pod, warnings) = ok(text);
    assert!(warnings.is_empty());
    assert_eq!(pod.effective_hostname(), "front");
    assert_eq!(pod.security_context.run_as_user, Some(1000));
    assert_eq!(pod.security_context.supplemental_groups, vec![10, 20]);
    assert_eq!(
        pod.volumes[0].source,
        VolumeSource::EmptyDir {
            medium: StorageMedium::Default,
            size_limit: None
        }
    );
    assert_eq!(
        pod.volumes[1].source,
        VolumeSource::HostPath {
            path: "/srv/data".into(),
            kind: HostPathType::DirectoryOrCreate
        }
    );
    let app = &pod.containers[0];
    assert_eq!(app.command, None);
    assert_eq!(app.working_dir.as_deref(), Some("/srv"));
    assert_eq!(app.env[1], ("B".into(), "$(A)-y".into()));
    assert_eq!(app.readiness_probe.as_ref().unwrap().period_seconds, 10);
    assert_eq!(app.security_context.capabilities.drop, vec!["ALL"]);
    assert_eq!(
        app.security_context.capabilities.add,
        vec!["NET_BIND_SERVICE"]
    );
    assert_eq!(app.volume_mounts[0].sub_path.as_deref(), Some("a/b"));
    assert_eq!(
        app.volume_mounts[1].propagation,
        MountPropagation::HostToContainer
    );
    let app2 = &pod.containers[1];
    assert_eq!(app2.name, "app2");
    assert_eq!(app2.image, "img");
    assert!(app2.readiness_probe.is_none());
    assert_eq!(pod.localhost_seccomp_profiles(), Vec::<String>::new());
}

#[test]
fn load_reports_every_diagnostic_one_per_line() {
    let dir = std::env::temp_dir().join(format!("podrt-pod-spec-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.yml");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: A}\nspec: {}\n",
    )
    .unwrap();
    let err = load(&path).unwrap_err();
    let shown = err.to_string();
    let file = path.display();
    assert_eq!(
        shown,
        format!(
            "{file}:3:18: metadata.name: \"A\" is not a valid DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit\n\
             {file}:4:7: spec.containers: is required"
        )
    );
    assert!(matches!(
        load(&dir.join("missing.yml")),
        Err(LoadError::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_text(text in "\\PC{0,300}") {
        let _ = parse(&text, "pod.yml");
    }

    #[test]
    fn never_panics_on_mangled_manifests(
        cut in 0usize..2000,
        len in 0usize..40,
        insert in "[ :\\-\\[\\]{}a-z0-9\"'\n#&*!|>]{0,12}",
    ) {
        let base = std::fs::read_to_string(FIXTURE).unwrap();
        let mut chars: Vec<char> = base.chars().collect();
        let at = cut.min(chars.len());
        let end = (at + len).min(chars.len());
        chars.splice(at..end, insert.chars());
        let text: String = chars.into_iter().collect();
        if let Err(diags) = parse(&text, "pod.yml") {
            prop_assert!(!diags.is_empty());
            for d in diags {
                prop_assert!(d.line >= 1, "{}", d);
                prop_assert!(!d.message.is_empty());
            }
        }
    }
}
