//! Walk the positioned YAML tree into the [`Pod`] model, tracking field paths and collecting
//! every problem (errors) and every ignored cluster-only field (warnings).

use std::collections::{BTreeMap, BTreeSet};

use crate::model::*;
use crate::names;
use crate::quantity;
use crate::yaml::{Kind, Node, Pos, Value};

/// One finding, before the file name is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Diag {
    pub pos: Pos,
    pub path: String,
    pub message: String,
}

#[derive(Debug, Default)]
pub(crate) struct Cx {
    pub errors: Vec<Diag>,
    pub warnings: Vec<Diag>,
    pub positions: BTreeMap<String, Pos>,
}

/// What an object accepts besides the fields its decoder takes.
struct Schema {
    /// Fields the decoder reads (used for hints; reading them marks them used).
    fields: &'static [&'static str],
    /// Fields that only matter to a cluster: a warning each, then ignored.
    cluster: &'static [&'static str],
    /// Fields Kubernetes accepts that podrt cannot honour: an error each. `{field}` in the
    /// message is replaced by the field name.
    refused: &'static [(&'static str, &'static str)],
}

const CLUSTER_ONLY: &str = "ignored: only meaningful to a Kubernetes cluster";

/// `path.key`, or `path["key"]` for keys that are not identifiers.
pub(crate) fn join(path: &str, key: &str) -> String {
    let simple = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    match (path.is_empty(), simple) {
        (true, true) => key.to_string(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{key:?}]"),
    }
}

fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

struct Entry<'n> {
    key: &'n str,
    key_pos: Pos,
    value: &'n Node,
    used: bool,
}

/// A mapping being decoded.
struct Obj<'n> {
    path: String,
    pos: Pos,
    entries: Vec<Entry<'n>>,
}

impl<'n> Obj<'n> {
    /// The value of `key` (marked used), with its path; `None` if absent or null.
    fn get(&mut self, cx: &mut Cx, key: &str) -> Option<(&'n Node, String)> {
        let e = self.entries.iter_mut().find(|e| e.key == key)?;
        e.used = true;
        let path = join(&self.path, key);
        cx.positions.insert(path.clone(), e.value.pos);
        if e.value.is_null() {
            return None;
        }
        Some((e.value, path))
    }

    /// Like [`Obj::get`], reporting a missing field.
    fn required(&mut self, cx: &mut Cx, key: &str) -> Option<(&'n Node, String)> {
        let v = self.get(cx, key);
        if v.is_none() {
            cx.err(self.pos, join(&self.path, key), "is required");
        }
        v
    }

    fn has(&self, key: &str) -> bool {
        self.entries
            .iter()
            .any(|e| e.key == key && !e.value.is_null())
    }
}

impl Cx {
    pub fn err(&mut self, pos: Pos, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(Diag {
            pos,
            path: path.into(),
            message: message.into(),
        });
    }

    fn warn(&mut self, pos: Pos, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Diag {
            pos,
            path: path.into(),
            message: message.into(),
        });
    }

    fn type_error(&mut self, n: &Node, path: &str, expected: &str) {
        let found = n.describe();
        let hint = match n.scalar() {
            Some(s) if expected == "a string" => format!(" (quote it: \"{}\")", s.text),
            _ => String::new(),
        };
        self.err(
            n.pos,
            path,
            format!("expected {expected}, found {found}{hint}"),
        );
    }

    fn map<'n>(&mut self, n: &'n Node, path: &str) -> Option<Obj<'n>> {
        let Kind::Map(entries) = &n.kind else {
            self.type_error(n, path, "a mapping");
            return None;
        };
        self.positions.insert(path.to_string(), n.pos);
        Some(Obj {
            path: path.to_string(),
            pos: n.pos,
            entries: entries
                .iter()
                .map(|(k, v)| Entry {
                    key: k.scalar().map_or("", |s| s.text.as_str()),
                    key_pos: k.pos,
                    value: v,
                    used: false,
                })
                .collect(),
        })
    }

    /// Report every field the decoder did not take: cluster-only ones warn, refused ones and
    /// unknown ones are errors.
    fn finish(&mut self, obj: Obj<'_>, schema: &Schema) {
        for e in obj.entries.iter().filter(|e| !e.used) {
            let path = join(&obj.path, e.key);
            if schema.cluster.contains(&e.key) {
                self.warn(e.key_pos, path, CLUSTER_ONLY);
            } else if let Some((_, msg)) = schema.refused.iter().find(|(k, _)| *k == e.key) {
                self.err(e.key_pos, path, msg.replace("{field}", e.key));
            } else if schema.fields.contains(&e.key) {
                // Known and deliberately not read (cannot happen with the decoders below).
            } else {
                let candidates = schema
                    .fields
                    .iter()
                    .chain(schema.cluster)
                    .copied()
                    .chain(schema.refused.iter().map(|(k, _)| *k));
                let hint = names::did_you_mean(e.key, candidates)
                    .map(|m| format!("; did you mean {m:?}?"))
                    .unwrap_or_default();
                self.err(e.key_pos, path, format!("unknown field {:?}{hint}", e.key));
            }
        }
    }

    fn string(&mut self, n: &Node, path: &str) -> Option<String> {
        match n.scalar() {
            Some(s) if s.value() == Value::Str => Some(s.text.clone()),
            _ => {
                self.type_error(n, path, "a string");
                None
            }
        }
    }

    fn non_empty_string(&mut self, n: &Node, path: &str) -> Option<String> {
        let s = self.string(n, path)?;
        if s.is_empty() {
            self.err(n.pos, path, "must not be empty");
            return None;
        }
        Some(s)
    }

    fn boolean(&mut self, n: &Node, path: &str) -> Option<bool> {
        match n.scalar().map(|s| s.value()) {
            Some(Value::Bool(b)) => Some(b),
            _ => {
                self.type_error(n, path, "a boolean");
                None
            }
        }
    }

    fn int(&mut self, n: &Node, path: &str) -> Option<i128> {
        match n.scalar().map(|s| s.value()) {
            Some(Value::Int(i)) => Some(i),
            _ => {
                self.type_error(n, path, "an integer");
                None
            }
        }
    }

    fn int_between(&mut self, n: &Node, path: &str, lo: i128, hi: i128) -> Option<i128> {
        let v = self.int(n, path)?;
        if v < lo || v > hi {
            let msg = if hi == i128::from(i32::MAX) || hi == i128::from(i64::MAX) {
                format!("must be greater than or equal to {lo}")
            } else {
                format!("must be between {lo} and {hi}")
            };
            self.err(n.pos, path, msg);
            return None;
        }
        Some(v)
    }

    fn port(&mut self, n: &Node, path: &str) -> Option<u16> {
        self.int_between(n, path, 1, 65535)
            .and_then(|v| u16::try_from(v).ok())
    }

    fn id(&mut self, n: &Node, path: &str) -> Option<u32> {
        let v = self.int(n, path)?;
        match u32::try_from(v) {
            Ok(v) if v <= 2_147_483_647 => Some(v),
            _ => {
                self.err(n.pos, path, "must be between 0 and 2147483647");
                None
            }
        }
    }

    /// Non-negative int32 (probe timings): `u32`.
    fn seconds(&mut self, n: &Node, path: &str) -> Option<u32> {
        self.int_between(n, path, 0, i128::from(i32::MAX))
            .and_then(|v| u32::try_from(v).ok())
    }

    fn seq<'n>(&mut self, n: &'n Node, path: &str) -> Option<Vec<(&'n Node, String)>> {
        let Kind::Seq(items) = &n.kind else {
            self.type_error(n, path, "a list");
            return None;
        };
        Some(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let p = index(path, i);
                    self.positions.insert(p.clone(), item.pos);
                    (item, p)
                })
                .collect(),
        )
    }

    fn string_list(&mut self, n: &Node, path: &str) -> Option<Vec<String>> {
        let items = self.seq(n, path)?;
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (item, p) in items {
            match self.string(item, &p) {
                Some(s) => out.push(s),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// A mapping of strings to strings (labels, annotations), each key checked by `check_key`
    /// and each value by `check_value`.
    fn string_map(
        &mut self,
        n: &Node,
        path: &str,
        check_key: fn(&str) -> Result<(), String>,
        check_value: fn(&str) -> Result<(), String>,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(obj) = self.map(n, path) else {
            return out;
        };
        for e in &obj.entries {
            let p = join(path, e.key);
            self.positions.insert(p.clone(), e.value.pos);
            if let Err(m) = check_key(e.key) {
                self.err(e.key_pos, &p, m);
            }
            let v = if e.value.is_null() {
                Some(String::new())
            } else {
                self.string(e.value, &p)
            };
            if let Some(v) = v {
                if let Err(m) = check_value(&v) {
                    self.err(e.value.pos, &p, m);
                }
                out.insert(e.key.to_string(), v);
            }
        }
        out
    }

    /// A value that must be one of `choices`.
    fn choice<T: Copy>(&mut self, n: &Node, path: &str, choices: &[(&str, T)]) -> Option<T> {
        let s = self.string(n, path)?;
        if let Some((_, v)) = choices.iter().find(|(k, _)| *k == s) {
            return Some(*v);
        }
        let list: Vec<String> = choices.iter().map(|(k, _)| format!("{k:?}")).collect();
        let hint = names::did_you_mean(&s, choices.iter().map(|(k, _)| *k))
            .map(|m| format!("; did you mean {m:?}?"))
            .unwrap_or_default();
        self.err(
            n.pos,
            path,
            format!("{s:?} is not one of {}{hint}", list.join(", ")),
        );
        None
    }

    /// A field whose only honoured value is `allowed` (e.g. `hostNetwork: false`).
    fn only_false(&mut self, obj: &mut Obj<'_>, key: &str, why: &str) {
        if let Some((n, p)) = obj.get(self, key) {
            if self.boolean(n, &p) == Some(true) {
                self.err(n.pos, p, format!("true is not supported by podrt: {why}"));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------

const TOP: Schema = Schema {
    fields: &["apiVersion", "kind", "metadata", "spec"],
    cluster: &["status"],
    refused: &[],
};

const METADATA: Schema = Schema {
    fields: &["name", "labels", "annotations"],
    cluster: &[
        "namespace",
        "generateName",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "ownerReferences",
        "finalizers",
        "managedFields",
        "selfLink",
    ],
    refused: &[],
};

const SPEC: Schema = Schema {
    fields: &[
        "containers",
        "initContainers",
        "volumes",
        "restartPolicy",
        "terminationGracePeriodSeconds",
        "securityContext",
        "hostname",
        "hostNetwork",
        "hostPID",
        "hostIPC",
        "shareProcessNamespace",
        "hostUsers",
        "setHostnameAsFQDN",
        "os",
    ],
    cluster: &[
        "nodeSelector",
        "nodeName",
        "tolerations",
        "affinity",
        "serviceAccountName",
        "serviceAccount",
        "automountServiceAccountToken",
        "imagePullSecrets",
        "priorityClassName",
        "priority",
        "preemptionPolicy",
        "schedulerName",
        "dnsPolicy",
        "topologySpreadConstraints",
        "subdomain",
        "runtimeClassName",
        "overhead",
        "schedulingGates",
        "enableServiceLinks",
    ],
    refused: &[
        (
            "ephemeralContainers",
            "ephemeral containers are not supported by podrt",
        ),
        (
            "readinessGates",
            "not supported by podrt: readiness gates need a controller to set their conditions",
        ),
        ("activeDeadlineSeconds", "not supported by podrt"),
        (
            "hostAliases",
            "not supported by podrt: the sandbox writes /etc/hosts itself",
        ),
        (
            "dnsConfig",
            "not supported by podrt: containers use the host's resolver configuration",
        ),
        (
            "resourceClaims",
            "dynamic resource allocation is not supported by podrt",
        ),
        (
            "resources",
            "pod-level resources are not supported by podrt; set resources on each container",
        ),
    ],
};

const CONTAINER: Schema = Schema {
    fields: &[
        "name",
        "image",
        "command",
        "args",
        "workingDir",
        "ports",
        "env",
        "resources",
        "volumeMounts",
        "livenessProbe",
        "readinessProbe",
        "startupProbe",
        "securityContext",
        "stdin",
        "stdinOnce",
        "tty",
    ],
    cluster: &[
        "imagePullPolicy",
        "terminationMessagePath",
        "terminationMessagePolicy",
        "resizePolicy",
    ],
    refused: &[
        (
            "envFrom",
            "not supported by podrt: there are no ConfigMaps or Secrets; list the variables under env",
        ),
        ("volumeDevices", "raw block devices are not supported by podrt"),
        ("lifecycle", "postStart and preStop hooks are not supported by podrt"),
        (
            "restartPolicy",
            "sidecar containers (a container-level restartPolicy) are not supported by podrt",
        ),
    ],
};

const PORT: Schema = Schema {
    fields: &["containerPort", "hostPort", "protocol", "name"],
    cluster: &[],
    refused: &[(
        "hostIP",
        "not supported by podrt: host ports listen on every host address",
    )],
};

const ENV: Schema = Schema {
    fields: &["name", "value"],
    cluster: &[],
    refused: &[(
        "valueFrom",
        "not supported by podrt (no Secrets, ConfigMaps or downward API); use value",
    )],
};

const RESOURCES: Schema = Schema {
    fields: &["limits", "requests"],
    cluster: &[],
    refused: &[(
        "claims",
        "dynamic resource claims are not supported by podrt",
    )],
};

const PROBE: Schema = Schema {
    fields: &[
        "exec",
        "httpGet",
        "tcpSocket",
        "initialDelaySeconds",
        "periodSeconds",
        "timeoutSeconds",
        "successThreshold",
        "failureThreshold",
    ],
    cluster: &[],
    refused: &[
        (
            "grpc",
            "gRPC probes are not supported by podrt; use exec, httpGet or tcpSocket",
        ),
        (
            "terminationGracePeriodSeconds",
            "a probe-level terminationGracePeriodSeconds is not supported by podrt",
        ),
    ],
};

const EXEC: Schema = Schema {
    fields: &["command"],
    cluster: &[],
    refused: &[],
};

const HTTP_GET: Schema = Schema {
    fields: &["path", "port", "host", "scheme", "httpHeaders"],
    cluster: &[],
    refused: &[],
};

const HTTP_HEADER: Schema = Schema {
    fields: &["name", "value"],
    cluster: &[],
    refused: &[],
};

const TCP_SOCKET: Schema = Schema {
    fields: &["port", "host"],
    cluster: &[],
    refused: &[],
};

const SECURITY_CONTEXT: Schema = Schema {
    fields: &[
        "capabilities",
        "privileged",
        "runAsUser",
        "runAsGroup",
        "runAsNonRoot",
        "readOnlyRootFilesystem",
        "allowPrivilegeEscalation",
        "seccompProfile",
        "procMount",
        "appArmorProfile",
    ],
    cluster: &["windowsOptions"],
    refused: &[(
        "seLinuxOptions",
        "SELinux labels are not supported by podrt",
    )],
};

const POD_SECURITY_CONTEXT: Schema = Schema {
    fields: &[
        "runAsUser",
        "runAsGroup",
        "runAsNonRoot",
        "supplementalGroups",
        "supplementalGroupsPolicy",
        "seccompProfile",
        "sysctls",
        "appArmorProfile",
    ],
    cluster: &["windowsOptions", "seLinuxChangePolicy"],
    refused: &[
        (
            "fsGroup",
            "not supported by podrt: volume ownership is never changed; use runAsGroup or \
             supplementalGroups",
        ),
        (
            "fsGroupChangePolicy",
            "not supported by podrt: volume ownership is never changed",
        ),
        (
            "seLinuxOptions",
            "SELinux labels are not supported by podrt",
        ),
    ],
};

const CAPABILITIES: Schema = Schema {
    fields: &["add", "drop"],
    cluster: &[],
    refused: &[],
};

const PROFILE: Schema = Schema {
    fields: &["type", "localhostProfile"],
    cluster: &[],
    refused: &[],
};

const SYSCTL: Schema = Schema {
    fields: &["name", "value"],
    cluster: &[],
    refused: &[],
};

const VOLUME_MOUNT: Schema = Schema {
    fields: &[
        "name",
        "mountPath",
        "readOnly",
        "subPath",
        "mountPropagation",
        "recursiveReadOnly",
    ],
    cluster: &[],
    refused: &[("subPathExpr", "not supported by podrt; use subPath")],
};

const VOLUME_REFUSED: &str = "{field} volumes are not supported by podrt (supported: emptyDir, \
                              hostPath)";

const VOLUME: Schema = Schema {
    fields: &["name", "emptyDir", "hostPath"],
    cluster: &[],
    refused: &[
        ("awsElasticBlockStore", VOLUME_REFUSED),
        ("azureDisk", VOLUME_REFUSED),
        ("azureFile", VOLUME_REFUSED),
        ("cephfs", VOLUME_REFUSED),
        ("cinder", VOLUME_REFUSED),
        ("configMap", VOLUME_REFUSED),
        ("csi", VOLUME_REFUSED),
        ("downwardAPI", VOLUME_REFUSED),
        ("ephemeral", VOLUME_REFUSED),
        ("fc", VOLUME_REFUSED),
        ("flexVolume", VOLUME_REFUSED),
        ("flocker", VOLUME_REFUSED),
        ("gcePersistentDisk", VOLUME_REFUSED),
        ("gitRepo", VOLUME_REFUSED),
        ("glusterfs", VOLUME_REFUSED),
        ("image", VOLUME_REFUSED),
        ("iscsi", VOLUME_REFUSED),
        ("nfs", VOLUME_REFUSED),
        ("persistentVolumeClaim", VOLUME_REFUSED),
        ("photonPersistentDisk", VOLUME_REFUSED),
        ("portworxVolume", VOLUME_REFUSED),
        ("projected", VOLUME_REFUSED),
        ("quobyte", VOLUME_REFUSED),
        ("rbd", VOLUME_REFUSED),
        ("scaleIO", VOLUME_REFUSED),
        ("secret", VOLUME_REFUSED),
        ("storageos", VOLUME_REFUSED),
        ("vsphereVolume", VOLUME_REFUSED),
    ],
};

const EMPTY_DIR: Schema = Schema {
    fields: &["medium", "sizeLimit"],
    cluster: &[],
    refused: &[],
};

const HOST_PATH: Schema = Schema {
    fields: &["path", "type"],
    cluster: &[],
    refused: &[],
};

const OS: Schema = Schema {
    fields: &["name"],
    cluster: &[],
    refused: &[],
};

/// Kinds that wrap a pod template: say where the Pod is.
const WORKLOADS: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
];

// ---------------------------------------------------------------------------------------------

/// Decode the root of the document.
pub(crate) fn pod(cx: &mut Cx, root: &Node) -> Option<Pod> {
    if root.is_null() {
        cx.err(root.pos, "", "the file holds no Pod manifest");
        return None;
    }
    let Kind::Map(_) = root.kind else {
        cx.err(
            root.pos,
            "",
            format!(
                "expected a Pod manifest (a mapping with apiVersion, kind, metadata and spec), \
                 found {}",
                root.describe()
            ),
        );
        return None;
    };
    let mut top = cx.map(root, "")?;
    let kind = top
        .required(cx, "kind")
        .and_then(|(n, p)| cx.string(n, &p).map(|s| (n, p, s)));
    if let Some((n, p, kind)) = &kind {
        if kind != "Pod" {
            let msg = if WORKLOADS.contains(&kind.as_str()) {
                format!(
                    "kind {kind} is not supported: podrt runs a single Pod; use the pod template \
                     (spec.template) as a Pod manifest with apiVersion: v1 and kind: Pod"
                )
            } else if kind == "List" {
                "kind List is not supported: podrt runs exactly one Pod per file".to_string()
            } else {
                format!("kind {kind:?} is not supported: expected \"Pod\"")
            };
            cx.err(n.pos, p.clone(), msg);
        }
    }
    if let Some((n, p)) = top.required(cx, "apiVersion") {
        if let Some(v) = cx.string(n, &p) {
            if v != "v1" {
                cx.err(
                    n.pos,
                    p,
                    format!("apiVersion {v:?} is not supported: a Pod is \"v1\""),
                );
            }
        }
    }
    if !matches!(&kind, Some((_, _, k)) if k == "Pod") {
        // Another kind: its fields would only add noise.
        return None;
    }

    let mut pod = Pod::default();
    if let Some((n, p)) = top.required(cx, "metadata") {
        if let Some(mut md) = cx.map(n, &p) {
            metadata(cx, &mut md, &mut pod);
            cx.finish(md, &METADATA);
        }
    }
    if let Some((n, p)) = top.required(cx, "spec") {
        if let Some(mut sp) = cx.map(n, &p) {
            spec(cx, &mut sp, &mut pod);
            cx.finish(sp, &SPEC);
        }
    }
    cx.finish(top, &TOP);
    Some(pod)
}

fn metadata(cx: &mut Cx, md: &mut Obj<'_>, pod: &mut Pod) {
    let generate_name = md.has("generateName");
    match md.get(cx, "name") {
        Some((n, p)) => {
            if let Some(name) = cx.string(n, &p) {
                match names::dns_label(&name) {
                    Ok(()) => pod.name = name,
                    Err(m) => cx.err(n.pos, p, m),
                }
            }
        }
        None => {
            let msg = if generate_name {
                "is required (generateName is not supported by podrt)"
            } else {
                "is required"
            };
            cx.err(md.pos, join(&md.path, "name"), msg);
        }
    }
    if let Some((n, p)) = md.get(cx, "labels") {
        pod.labels = cx.string_map(n, &p, names::qualified_name, names::label_value);
    }
    if let Some((n, p)) = md.get(cx, "annotations") {
        pod.annotations = cx.string_map(n, &p, names::qualified_name, |_| Ok(()));
    }
}

fn spec(cx: &mut Cx, sp: &mut Obj<'_>, pod: &mut Pod) {
    cx.only_false(
        sp,
        "hostNetwork",
        "the pod always gets its own network namespace",
    );
    cx.only_false(
        sp,
        "hostPID",
        "containers always get their own PID namespace",
    );
    cx.only_false(sp, "hostIPC", "the pod always gets its own IPC namespace");
    cx.only_false(
        sp,
        "shareProcessNamespace",
        "each container gets its own PID namespace",
    );
    cx.only_false(
        sp,
        "setHostnameAsFQDN",
        "the hostname is never a cluster FQDN",
    );
    if let Some((n, p)) = sp.get(cx, "hostUsers") {
        if cx.boolean(n, &p) == Some(false) {
            cx.err(
                n.pos,
                p,
                "false is not supported by podrt: user namespaces are not available for pods",
            );
        }
    }
    if let Some((n, p)) = sp.get(cx, "os") {
        if let Some(mut os) = cx.map(n, &p) {
            if let Some((n, p)) = os.required(cx, "name") {
                if let Some(name) = cx.string(n, &p) {
                    if name != "linux" {
                        cx.err(
                            n.pos,
                            p,
                            format!("{name:?} is not supported: podrt runs Linux containers"),
                        );
                    }
                }
            }
            cx.finish(os, &OS);
        }
    }
    if let Some((n, p)) = sp.get(cx, "hostname") {
        if let Some(h) = cx.string(n, &p) {
            match names::dns_label(&h) {
                Ok(()) => pod.hostname = Some(h),
                Err(m) => cx.err(n.pos, p, m),
            }
        }
    }
    if let Some((n, p)) = sp.get(cx, "restartPolicy") {
        if let Some(r) = cx.choice(
            n,
            &p,
            &[
                ("Always", RestartPolicy::Always),
                ("OnFailure", RestartPolicy::OnFailure),
                ("Never", RestartPolicy::Never),
            ],
        ) {
            pod.restart_policy = r;
        }
    }
    if let Some((n, p)) = sp.get(cx, "terminationGracePeriodSeconds") {
        if let Some(v) = cx.int_between(n, &p, 0, i128::from(i64::MAX)) {
            pod.termination_grace_period_seconds = u64::try_from(v).unwrap_or(u64::MAX);
        }
    }
    if let Some((n, p)) = sp.get(cx, "securityContext") {
        if let Some(mut sc) = cx.map(n, &p) {
            pod.security_context = pod_security_context(cx, &mut sc);
            cx.finish(sc, &POD_SECURITY_CONTEXT);
        }
    }
    let mut volume_names = BTreeSet::new();
    if let Some((n, p)) = sp.get(cx, "volumes") {
        (pod.volumes, volume_names) = volumes(cx, n, &p);
    }
    if let Some((n, p)) = sp.get(cx, "initContainers") {
        pod.init_containers = containers(cx, n, &p, true, &volume_names, &pod.security_context);
    }
    match sp.get(cx, "containers") {
        Some((n, p)) => {
            pod.containers = containers(cx, n, &p, false, &volume_names, &pod.security_context);
            if matches!(&n.kind, Kind::Seq(v) if v.is_empty()) {
                cx.err(n.pos, p, "at least one container is required");
            }
        }
        None => cx.err(sp.pos, join(&sp.path, "containers"), "is required"),
    }
    check_unique_containers(cx, pod);
    check_unique_ports(cx, pod);
}

fn containers(
    cx: &mut Cx,
    n: &Node,
    path: &str,
    init: bool,
    volumes: &BTreeSet<String>,
    pod_sc: &PodSecurityContext,
) -> Vec<Container> {
    let mut out = Vec::new();
    for (item, p) in cx.seq(n, path).unwrap_or_default() {
        if let Some(mut obj) = cx.map(item, &p) {
            out.push(container(cx, &mut obj, init, volumes, pod_sc));
            cx.finish(obj, &CONTAINER);
        }
    }
    out
}

fn container(
    cx: &mut Cx,
    obj: &mut Obj<'_>,
    init: bool,
    volumes: &BTreeSet<String>,
    pod_sc: &PodSecurityContext,
) -> Container {
    let mut c = Container::default();
    if let Some((n, p)) = obj.required(cx, "name") {
        if let Some(name) = cx.string(n, &p) {
            match names::dns_label(&name) {
                Ok(()) => c.name = name,
                Err(m) => cx.err(n.pos, p, m),
            }
        }
    }
    if let Some((n, p)) = obj.required(cx, "image") {
        if let Some(image) = cx.non_empty_string(n, &p) {
            c.image = image;
        }
    }
    let list = |cx: &mut Cx, obj: &mut Obj<'_>, key: &str| {
        obj.get(cx, key)
            .and_then(|(n, p)| cx.string_list(n, &p))
            .filter(|v| !v.is_empty())
    };
    c.command = list(cx, obj, "command");
    c.args = list(cx, obj, "args");
    if let Some((n, p)) = obj.get(cx, "workingDir") {
        if let Some(w) = cx.string(n, &p) {
            if w.is_empty() {
                // Kubernetes treats "" as unset.
            } else if !w.starts_with('/') {
                cx.err(n.pos, p, format!("{w:?} must be an absolute path"));
            } else {
                c.working_dir = Some(w);
            }
        }
    }
    for key in ["stdin", "stdinOnce", "tty"] {
        cx.only_false(obj, key, "containers run without a terminal or stdin");
    }
    if let Some((n, p)) = obj.get(cx, "env") {
        c.env = env(cx, n, &p);
    }
    if let Some((n, p)) = obj.get(cx, "ports") {
        c.ports = ports(cx, n, &p);
    }
    if let Some((n, p)) = obj.get(cx, "resources") {
        if let Some(mut r) = cx.map(n, &p) {
            c.resources = resources(cx, &mut r);
            cx.finish(r, &RESOURCES);
        }
    }
    for (key, kind) in [
        ("readinessProbe", ProbeKind::Readiness),
        ("livenessProbe", ProbeKind::Liveness),
        ("startupProbe", ProbeKind::Startup),
    ] {
        let Some((n, p)) = obj.get(cx, key) else {
            continue;
        };
        if init {
            cx.err(n.pos, p, "init containers cannot have probes");
            continue;
        }
        let probe = cx.map(n, &p).and_then(|mut o| {
            let r = probe(cx, &mut o, kind, &c.ports);
            cx.finish(o, &PROBE);
            r
        });
        match kind {
            ProbeKind::Readiness => c.readiness_probe = probe,
            ProbeKind::Liveness => c.liveness_probe = probe,
            ProbeKind::Startup => c.startup_probe = probe,
        }
    }
    if let Some((n, p)) = obj.get(cx, "securityContext") {
        if let Some(mut sc) = cx.map(n, &p) {
            c.security_context = security_context(cx, &mut sc);
            cx.finish(sc, &SECURITY_CONTEXT);
        }
    }
    check_non_root(cx, &obj.path, &c.security_context, pod_sc);
    if let Some((n, p)) = obj.get(cx, "volumeMounts") {
        c.volume_mounts = volume_mounts(cx, n, &p, volumes, c.security_context.privileged);
    }
    c
}

/// `runAsNonRoot: true` with an explicit `runAsUser: 0` can never start.
fn check_non_root(cx: &mut Cx, cpath: &str, sc: &SecurityContext, pod_sc: &PodSecurityContext) {
    let non_root = sc.run_as_non_root.or(pod_sc.run_as_non_root) == Some(true);
    let (uid, uid_path) = match (sc.run_as_user, pod_sc.run_as_user) {
        (Some(u), _) => (Some(u), format!("{cpath}.securityContext.runAsUser")),
        (None, Some(u)) => (Some(u), "spec.securityContext.runAsUser".to_string()),
        _ => (None, String::new()),
    };
    if non_root && uid == Some(0) {
        let pos = cx.positions.get(&uid_path).copied().unwrap_or_default();
        cx.err(
            pos,
            uid_path,
            "runAsNonRoot is true but runAsUser is 0 (root)",
        );
    }
}

fn env(cx: &mut Cx, n: &Node, path: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (item, p) in cx.seq(n, path).unwrap_or_default() {
        let Some(mut obj) = cx.map(item, &p) else {
            continue;
        };
        let name = obj.required(cx, "name").and_then(|(n, p)| {
            let s = cx.string(n, &p)?;
            match names::env_name(&s) {
                Ok(()) => Some(s),
                Err(m) => {
                    cx.err(n.pos, p, m);
                    None
                }
            }
        });
        let value = match obj.get(cx, "value") {
            Some((n, p)) => cx.string(n, &p),
            None => Some(String::new()),
        };
        cx.finish(obj, &ENV);
        if let (Some(name), Some(value)) = (name, value) {
            out.push((name, value));
        }
    }
    out
}

fn ports(cx: &mut Cx, n: &Node, path: &str) -> Vec<Port> {
    let mut out = Vec::new();
    let mut names_seen: BTreeMap<String, Pos> = BTreeMap::new();
    for (item, p) in cx.seq(n, path).unwrap_or_default() {
        let Some(mut obj) = cx.map(item, &p) else {
            continue;
        };
        let container_port = obj
            .required(cx, "containerPort")
            .and_then(|(n, p)| cx.port(n, &p));
        let host_port = obj.get(cx, "hostPort").and_then(|(n, p)| {
            // 0 means "no host port", as in Kubernetes.
            match cx.int_between(n, &p, 0, 65535)? {
                0 => None,
                v => u16::try_from(v).ok(),
            }
        });
        let protocol = obj
            .get(cx, "protocol")
            .and_then(|(n, p)| {
                cx.choice(
                    n,
                    &p,
                    &[
                        ("TCP", Protocol::Tcp),
                        ("UDP", Protocol::Udp),
                        ("SCTP", Protocol::Sctp),
                    ],
                )
            })
            .unwrap_or_default();
        let name = obj.get(cx, "name").and_then(|(n, p)| {
            let s = cx.string(n, &p)?;
            if let Err(m) = names::port_name(&s) {
                cx.err(n.pos, p, m);
                return None;
            }
            if let Some(first) = names_seen.get(&s) {
                cx.err(
                    n.pos,
                    p,
                    format!("duplicate port name {s:?} (first at line {})", first.line),
                );
                return None;
            }
            names_seen.insert(s.clone(), n.pos);
            Some(s)
        });
        if protocol == Protocol::Sctp && host_port.is_some() {
            let hp = join(&obj.path, "hostPort");
            let pos = cx.positions.get(&hp).copied().unwrap_or(obj.pos);
            cx.err(
                pos,
                hp,
                "SCTP host ports are not supported by podrt (only TCP and UDP)",
            );
        }
        cx.finish(obj, &PORT);
        if let Some(container_port) = container_port {
            out.push(Port {
                name,
                container_port,
                host_port,
                protocol,
            });
        }
    }
    out
}

fn resources(cx: &mut Cx, obj: &mut Obj<'_>) -> Resources {
    let mut read = |cx: &mut Cx, key: &str| -> (Option<u64>, Option<u64>) {
        let mut cpu = None;
        let mut memory = None;
        let Some((n, p)) = obj.get(cx, key) else {
            return (None, None);
        };
        let Some(m) = cx.map(n, &p) else {
            return (None, None);
        };
        for e in &m.entries {
            let vp = join(&p, e.key);
            cx.positions.insert(vp.clone(), e.value.pos);
            match e.key {
                "cpu" | "memory" => {}
                "ephemeral-storage" => {
                    cx.err(
                        e.key_pos,
                        vp,
                        "ephemeral-storage is not supported by podrt (supported: cpu, memory)",
                    );
                    continue;
                }
                k => {
                    let hint = names::did_you_mean(k, ["cpu", "memory"])
                        .map(|m| format!("; did you mean {m:?}?"))
                        .unwrap_or_default();
                    cx.err(
                        e.key_pos,
                        vp,
                        format!("resource {k:?} is not supported by podrt (supported: cpu, memory){hint}"),
                    );
                    continue;
                }
            }
            let Some(s) = e.value.scalar().filter(|_| !e.value.is_null()) else {
                cx.type_error(e.value, &vp, "a quantity");
                continue;
            };
            let q = match quantity::parse(&s.text) {
                Ok(q) => q,
                Err(err) => {
                    cx.err(e.value.pos, vp, err.to_string());
                    continue;
                }
            };
            if q.is_negative() {
                cx.err(e.value.pos, vp, "must not be negative");
                continue;
            }
            let v = if e.key == "cpu" {
                q.millis_ceil()
            } else {
                q.units_ceil()
            };
            match v {
                None => cx.err(e.value.pos, vp, format!("{:?} is too large", s.text)),
                Some(v) if e.key == "cpu" => cpu = Some(v),
                Some(v) => memory = Some(v),
            }
        }
        (cpu, memory)
    };
    let (cpu_limit, memory_limit) = read(cx, "limits");
    let (cpu_request, memory_request) = read(cx, "requests");
    let check = |cx: &mut Cx, key: &str, req: Option<u64>, lim: Option<u64>| {
        if let (Some(r), Some(l)) = (req, lim) {
            if r > l {
                let path = format!("{}.requests.{key}", obj.path);
                let pos = cx.positions.get(&path).copied().unwrap_or(obj.pos);
                cx.err(
                    pos,
                    path,
                    format!("must be less than or equal to the {key} limit"),
                );
            }
        }
    };
    check(cx, "cpu", cpu_request, cpu_limit);
    check(cx, "memory", memory_request, memory_limit);
    Resources {
        cpu_limit_millis: cpu_limit,
        cpu_request_millis: cpu_request.or(cpu_limit),
        memory_limit_bytes: memory_limit,
        memory_request_bytes: memory_request.or(memory_limit),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProbeKind {
    Readiness,
    Liveness,
    Startup,
}

/// A probe port: a number, or a name declared in the container's ports.
fn probe_port(cx: &mut Cx, n: &Node, path: &str, ports: &[Port]) -> Option<u16> {
    match n.scalar().map(|s| s.value()) {
        Some(Value::Int(_)) => cx.port(n, path),
        Some(Value::Str) => {
            let name = &n.scalar()?.text;
            if let Err(m) = names::port_name(name) {
                cx.err(n.pos, path, m);
                return None;
            }
            match ports
                .iter()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
            {
                Some(p) => Some(p.container_port),
                None => {
                    cx.err(
                        n.pos,
                        path,
                        format!("named port {name:?} is not declared in this container's ports"),
                    );
                    None
                }
            }
        }
        _ => {
            cx.type_error(n, path, "a port number or a port name");
            None
        }
    }
}

fn probe(cx: &mut Cx, obj: &mut Obj<'_>, kind: ProbeKind, ports: &[Port]) -> Option<Probe> {
    let mut action: Option<ProbeAction> = None;
    let mut handlers = 0;
    let mut broken = false;
    // In file order, so the handler reported as extra is the later one.
    let present: Vec<(&str, Pos)> = obj
        .entries
        .iter()
        .filter(|e| ["exec", "httpGet", "tcpSocket", "grpc"].contains(&e.key))
        .filter(|e| !e.value.is_null())
        .map(|e| (e.key, e.key_pos))
        .collect();
    for (key, key_pos) in present {
        handlers += 1;
        if handlers > 1 {
            cx.err(
                key_pos,
                join(&obj.path, key),
                "a probe takes exactly one handler (exec, httpGet or tcpSocket)",
            );
            broken = true;
            // Still decode it to report its own problems.
        }
        if key == "grpc" {
            broken = true;
            continue; // refused by the schema
        }
        let Some((n, p)) = obj.get(cx, key) else {
            continue;
        };
        let Some(mut h) = cx.map(n, &p) else {
            broken = true;
            continue;
        };
        let a = match key {
            "exec" => {
                let command = h.required(cx, "command").and_then(|(n, p)| {
                    let v = cx.string_list(n, &p)?;
                    if v.is_empty() {
                        cx.err(n.pos, p, "must not be empty");
                        return None;
                    }
                    Some(v)
                });
                cx.finish(h, &EXEC);
                command.map(|command| ProbeAction::Exec { command })
            }
            "httpGet" => {
                let port = h
                    .required(cx, "port")
                    .and_then(|(n, p)| probe_port(cx, n, &p, ports));
                let mut path = h
                    .get(cx, "path")
                    .and_then(|(n, p)| cx.string(n, &p))
                    .unwrap_or_default();
                if !path.starts_with('/') {
                    path.insert(0, '/');
                }
                let host = h
                    .get(cx, "host")
                    .and_then(|(n, p)| cx.non_empty_string(n, &p));
                if let Some((n, p)) = h.get(cx, "scheme") {
                    if let Some(s) = cx.string(n, &p) {
                        if s == "HTTPS" {
                            cx.err(
                                n.pos,
                                p,
                                "HTTPS probes are not supported by podrt (only HTTP)",
                            );
                        } else if s != "HTTP" {
                            cx.err(n.pos, p, format!("{s:?} is not one of \"HTTP\", \"HTTPS\""));
                        }
                    }
                }
                let mut headers = Vec::new();
                if let Some((n, p)) = h.get(cx, "httpHeaders") {
                    for (item, ip) in cx.seq(n, &p).unwrap_or_default() {
                        let Some(mut ho) = cx.map(item, &ip) else {
                            continue;
                        };
                        let name = ho.required(cx, "name").and_then(|(n, p)| {
                            let s = cx.string(n, &p)?;
                            let token = !s.is_empty()
                                && s.bytes().all(|b| {
                                    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
                                });
                            if !token {
                                cx.err(n.pos, p, format!("{s:?} is not a valid HTTP header name"));
                                return None;
                            }
                            Some(s)
                        });
                        let value = match ho.get(cx, "value") {
                            Some((n, p)) => cx.string(n, &p),
                            None => Some(String::new()),
                        };
                        cx.finish(ho, &HTTP_HEADER);
                        if let (Some(n), Some(v)) = (name, value) {
                            headers.push((n, v));
                        }
                    }
                }
                cx.finish(h, &HTTP_GET);
                port.map(|port| ProbeAction::HttpGet {
                    path,
                    port,
                    host,
                    headers,
                })
            }
            _ => {
                let port = h
                    .required(cx, "port")
                    .and_then(|(n, p)| probe_port(cx, n, &p, ports));
                let host = h
                    .get(cx, "host")
                    .and_then(|(n, p)| cx.non_empty_string(n, &p));
                cx.finish(h, &TCP_SOCKET);
                port.map(|port| ProbeAction::TcpSocket { port, host })
            }
        };
        match a {
            Some(a) if action.is_none() => action = Some(a),
            Some(_) => {}
            None => broken = true,
        }
    }
    if handlers == 0 {
        cx.err(
            obj.pos,
            obj.path.clone(),
            "a probe needs one handler: exec, httpGet or tcpSocket",
        );
    }
    let mut probe = Probe::new(ProbeAction::Exec {
        command: Vec::new(),
    });
    // 0 means "default" for every timing, as in Kubernetes' defaulting.
    let mut timing = |cx: &mut Cx, key: &str, slot: &mut u32, zero_is_default: bool| {
        if let Some((n, p)) = obj.get(cx, key) {
            match cx.seconds(n, &p) {
                Some(0) if zero_is_default => {}
                Some(v) => *slot = v,
                None => broken = true,
            }
        }
    };
    timing(
        cx,
        "initialDelaySeconds",
        &mut probe.initial_delay_seconds,
        false,
    );
    timing(cx, "periodSeconds", &mut probe.period_seconds, true);
    timing(cx, "timeoutSeconds", &mut probe.timeout_seconds, true);
    timing(cx, "successThreshold", &mut probe.success_threshold, true);
    timing(cx, "failureThreshold", &mut probe.failure_threshold, true);
    if kind != ProbeKind::Readiness && probe.success_threshold != 1 {
        let p = join(&obj.path, "successThreshold");
        let pos = cx.positions.get(&p).copied().unwrap_or(obj.pos);
        cx.err(pos, p, "must be 1 for liveness and startup probes");
        broken = true;
    }
    probe.action = action?;
    (!broken).then_some(probe)
}

fn seccomp_profile(cx: &mut Cx, n: &Node, path: &str) -> Option<SeccompProfile> {
    let mut o = cx.map(n, path)?;
    #[derive(Clone, Copy)]
    enum T {
        RuntimeDefault,
        Unconfined,
        Localhost,
    }
    let t = o.required(cx, "type").and_then(|(n, p)| {
        cx.choice(
            n,
            &p,
            &[
                ("RuntimeDefault", T::RuntimeDefault),
                ("Unconfined", T::Unconfined),
                ("Localhost", T::Localhost),
            ],
        )
    });
    let local = o.get(cx, "localhostProfile");
    let out = match (t, local) {
        (Some(T::Localhost), Some((n, p))) => {
            let s = cx.non_empty_string(n, &p)?;
            if s.starts_with('/') || s.split('/').any(|c| c == "..") {
                cx.err(
                    n.pos,
                    p,
                    "must be a relative path without '..' (relative to podrt's seccomp profile root)",
                );
                None
            } else {
                Some(SeccompProfile::Localhost(s))
            }
        }
        (Some(T::Localhost), None) => {
            cx.err(
                o.pos,
                join(path, "localhostProfile"),
                "is required for type Localhost",
            );
            None
        }
        (Some(_), Some((n, p))) => {
            cx.err(n.pos, p, "may only be set for type Localhost");
            None
        }
        (Some(T::RuntimeDefault), None) => Some(SeccompProfile::RuntimeDefault),
        (Some(T::Unconfined), None) => Some(SeccompProfile::Unconfined),
        (None, _) => None,
    };
    cx.finish(o, &PROFILE);
    out
}

/// AppArmor: podrt applies none. Unconfined is what it does anyway; RuntimeDefault is warned;
/// Localhost is refused.
fn app_armor(cx: &mut Cx, n: &Node, path: &str) {
    let Some(mut o) = cx.map(n, path) else {
        return;
    };
    if let Some((n, p)) = o.required(cx, "type") {
        match cx.string(n, &p).as_deref() {
            Some("Unconfined") | None => {}
            Some("RuntimeDefault") => cx.warn(
                n.pos,
                p,
                "podrt does not apply AppArmor profiles; the container runs without one",
            ),
            Some("Localhost") => cx.err(
                n.pos,
                p,
                "Localhost AppArmor profiles are not supported by podrt",
            ),
            Some(other) => cx.err(
                n.pos,
                p,
                format!(
                    "{other:?} is not one of \"RuntimeDefault\", \"Unconfined\", \"Localhost\""
                ),
            ),
        }
    }
    let _ = o.get(cx, "localhostProfile");
    cx.finish(o, &PROFILE);
}

/// Capability names: `NET_ADMIN`, `CAP_NET_ADMIN`, any case, or `ALL`.
const CAPABILITY_NAMES: &[&str] = &[
    "AUDIT_CONTROL",
    "AUDIT_READ",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "BPF",
    "CHECKPOINT_RESTORE",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "PERFMON",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "SYSLOG",
    "WAKE_ALARM",
];

fn capability_list(cx: &mut Cx, n: &Node, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (item, p) in cx.seq(n, path).unwrap_or_default() {
        let Some(s) = cx.string(item, &p) else {
            continue;
        };
        let upper = s.to_ascii_uppercase();
        let name = upper.strip_prefix("CAP_").unwrap_or(&upper);
        if name == "ALL" || CAPABILITY_NAMES.contains(&name) {
            out.push(name.to_string());
        } else {
            let hint = names::did_you_mean(name, CAPABILITY_NAMES.iter().copied())
                .map(|m| format!("; did you mean {m:?}?"))
                .unwrap_or_default();
            cx.err(item.pos, p, format!("unknown capability {s:?}{hint}"));
        }
    }
    out
}

fn security_context(cx: &mut Cx, o: &mut Obj<'_>) -> SecurityContext {
    let mut sc = SecurityContext::default();
    if let Some((n, p)) = o.get(cx, "capabilities") {
        if let Some(mut c) = cx.map(n, &p) {
            if let Some((n, p)) = c.get(cx, "add") {
                sc.capabilities.add = capability_list(cx, n, &p);
            }
            if let Some((n, p)) = c.get(cx, "drop") {
                sc.capabilities.drop = capability_list(cx, n, &p);
            }
            cx.finish(c, &CAPABILITIES);
        }
    }
    let flag = |cx: &mut Cx, o: &mut Obj<'_>, key: &str| {
        o.get(cx, key).and_then(|(n, p)| cx.boolean(n, &p))
    };
    sc.privileged = flag(cx, o, "privileged").unwrap_or(false);
    sc.read_only_root_filesystem = flag(cx, o, "readOnlyRootFilesystem").unwrap_or(false);
    sc.run_as_non_root = flag(cx, o, "runAsNonRoot");
    sc.allow_privilege_escalation = flag(cx, o, "allowPrivilegeEscalation");
    sc.run_as_user = o.get(cx, "runAsUser").and_then(|(n, p)| cx.id(n, &p));
    sc.run_as_group = o.get(cx, "runAsGroup").and_then(|(n, p)| cx.id(n, &p));
    if let Some((n, p)) = o.get(cx, "seccompProfile") {
        sc.seccomp_profile = seccomp_profile(cx, n, &p);
    }
    if let Some((n, p)) = o.get(cx, "appArmorProfile") {
        app_armor(cx, n, &p);
    }
    if let Some((n, p)) = o.get(cx, "procMount") {
        sc.proc_mount_unmasked = cx
            .choice(n, &p, &[("Default", false), ("Unmasked", true)])
            .unwrap_or(false);
    }
    if sc.allow_privilege_escalation == Some(false) {
        let p = join(&o.path, "allowPrivilegeEscalation");
        let pos = cx.positions.get(&p).copied().unwrap_or(o.pos);
        if sc.privileged {
            cx.err(pos, &p, "cannot be false when privileged is true");
        } else if sc.capabilities.add.iter().any(|c| c == "SYS_ADMIN") {
            cx.err(
                pos,
                &p,
                "cannot be false when capabilities.add includes SYS_ADMIN",
            );
        }
    }
    sc
}

fn pod_security_context(cx: &mut Cx, o: &mut Obj<'_>) -> PodSecurityContext {
    let mut sc = PodSecurityContext {
        run_as_user: o.get(cx, "runAsUser").and_then(|(n, p)| cx.id(n, &p)),
        run_as_group: o.get(cx, "runAsGroup").and_then(|(n, p)| cx.id(n, &p)),
        run_as_non_root: o
            .get(cx, "runAsNonRoot")
            .and_then(|(n, p)| cx.boolean(n, &p)),
        ..Default::default()
    };
    if let Some((n, p)) = o.get(cx, "supplementalGroups") {
        for (item, ip) in cx.seq(n, &p).unwrap_or_default() {
            if let Some(g) = cx.id(item, &ip) {
                sc.supplemental_groups.push(g);
            }
        }
    }
    if let Some((n, p)) = o.get(cx, "supplementalGroupsPolicy") {
        sc.supplemental_groups_strict = cx
            .choice(n, &p, &[("Merge", false), ("Strict", true)])
            .unwrap_or(false);
    }
    if let Some((n, p)) = o.get(cx, "seccompProfile") {
        sc.seccomp_profile = seccomp_profile(cx, n, &p);
    }
    if let Some((n, p)) = o.get(cx, "appArmorProfile") {
        app_armor(cx, n, &p);
    }
    if let Some((n, p)) = o.get(cx, "sysctls") {
        let mut seen: BTreeMap<String, Pos> = BTreeMap::new();
        for (item, ip) in cx.seq(n, &p).unwrap_or_default() {
            let Some(mut so) = cx.map(item, &ip) else {
                continue;
            };
            let name = so.required(cx, "name").and_then(|(n, p)| {
                let s = cx.string(n, &p)?;
                if let Err(m) = sysctl_name(&s) {
                    cx.err(n.pos, p, m);
                    return None;
                }
                if let Some(first) = seen.get(&s) {
                    cx.err(
                        n.pos,
                        p,
                        format!("duplicate sysctl {s:?} (first at line {})", first.line),
                    );
                    return None;
                }
                seen.insert(s.clone(), n.pos);
                Some(s)
            });
            let value = so.required(cx, "value").and_then(|(n, p)| cx.string(n, &p));
            cx.finish(so, &SYSCTL);
            if let (Some(k), Some(v)) = (name, value) {
                sc.sysctls.push((k, v));
            }
        }
    }
    sc
}

/// Only sysctls namespaced by the pod's own namespaces (net, ipc) may be set.
fn sysctl_name(s: &str) -> Result<(), String> {
    let s2 = s.replace('/', ".");
    let well_formed = !s2.is_empty()
        && s2.split('.').all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
    if !well_formed {
        return Err(format!("{s:?} is not a valid sysctl name"));
    }
    let namespaced = s2.starts_with("net.")
        || s2.starts_with("fs.mqueue.")
        || s2.starts_with("kernel.shm")
        || s2.starts_with("kernel.msg")
        || s2 == "kernel.sem";
    if !namespaced {
        return Err(format!(
            "{s:?} is not namespaced: setting it would change the host (allowed: net.*, \
             kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*)"
        ));
    }
    Ok(())
}

fn volume_mounts(
    cx: &mut Cx,
    n: &Node,
    path: &str,
    volumes: &BTreeSet<String>,
    privileged: bool,
) -> Vec<VolumeMount> {
    let mut out = Vec::new();
    let mut paths: BTreeMap<String, Pos> = BTreeMap::new();
    for (item, p) in cx.seq(n, path).unwrap_or_default() {
        let Some(mut o) = cx.map(item, &p) else {
            continue;
        };
        let name = o.required(cx, "name").and_then(|(n, p)| {
            let s = cx.string(n, &p)?;
            if !volumes.contains(&s) {
                let hint = names::did_you_mean(&s, volumes.iter().map(String::as_str))
                    .map(|m| format!("; did you mean {m:?}?"))
                    .unwrap_or_default();
                cx.err(
                    n.pos,
                    p,
                    format!("volume {s:?} is not declared in spec.volumes{hint}"),
                );
                return None;
            }
            Some(s)
        });
        let mount_path = o.required(cx, "mountPath").and_then(|(n, p)| {
            let s = cx.non_empty_string(n, &p)?;
            if !s.starts_with('/') {
                cx.err(n.pos, p, format!("{s:?} must be an absolute path"));
                return None;
            }
            if s.split('/').any(|c| c == "..") {
                cx.err(n.pos, p, format!("{s:?} must not contain '..'"));
                return None;
            }
            let norm = normalize(&s);
            if let Some(first) = paths.get(&norm) {
                cx.err(
                    n.pos,
                    p,
                    format!("{s:?} is mounted twice (first at line {})", first.line),
                );
                return None;
            }
            paths.insert(norm.clone(), n.pos);
            Some(norm)
        });
        let read_only = o
            .get(cx, "readOnly")
            .and_then(|(n, p)| cx.boolean(n, &p))
            .unwrap_or(false);
        let sub_path = o.get(cx, "subPath").and_then(|(n, p)| {
            let s = cx.string(n, &p)?;
            if s.is_empty() {
                return None;
            }
            if s.starts_with('/') || s.split('/').any(|c| c == "..") {
                cx.err(
                    n.pos,
                    p,
                    format!("{s:?} must be a relative path without '..'"),
                );
                return None;
            }
            Some(s)
        });
        let propagation = o
            .get(cx, "mountPropagation")
            .and_then(|(n, p)| {
                let v = cx.choice(
                    n,
                    &p,
                    &[
                        ("None", MountPropagation::None),
                        ("HostToContainer", MountPropagation::HostToContainer),
                        ("Bidirectional", MountPropagation::Bidirectional),
                    ],
                )?;
                if v == MountPropagation::Bidirectional && !privileged {
                    cx.err(n.pos, p, "Bidirectional needs a privileged container");
                    return None;
                }
                Some(v)
            })
            .unwrap_or_default();
        if let Some((n, p)) = o.get(cx, "recursiveReadOnly") {
            if let Some(s) = cx.string(n, &p) {
                if s != "Disabled" {
                    cx.err(
                        n.pos,
                        p,
                        format!("{s:?} is not supported by podrt (only \"Disabled\")"),
                    );
                }
            }
        }
        cx.finish(o, &VOLUME_MOUNT);
        if let (Some(name), Some(mount_path)) = (name, mount_path) {
            out.push(VolumeMount {
                name,
                mount_path,
                read_only,
                sub_path,
                propagation,
            });
        }
    }
    out
}

/// `/a//b/./c/` → `/a/b/c`.
fn normalize(p: &str) -> String {
    let parts: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// The volumes, and every declared volume name (even of volumes refused for their source, so a
/// mount of them is not reported a second time).
fn volumes(cx: &mut Cx, n: &Node, path: &str) -> (Vec<Volume>, BTreeSet<String>) {
    let mut out = Vec::new();
    let mut seen: BTreeMap<String, Pos> = BTreeMap::new();
    for (item, p) in cx.seq(n, path).unwrap_or_default() {
        let Some(mut o) = cx.map(item, &p) else {
            continue;
        };
        let name = o.required(cx, "name").and_then(|(n, p)| {
            let s = cx.string(n, &p)?;
            if let Err(m) = names::dns_label(&s) {
                cx.err(n.pos, p, m);
                return None;
            }
            if let Some(first) = seen.get(&s) {
                cx.err(
                    n.pos,
                    p,
                    format!("duplicate volume name {s:?} (first at line {})", first.line),
                );
                return None;
            }
            seen.insert(s.clone(), n.pos);
            Some(s)
        });
        let sources: Vec<(&str, Pos)> = o
            .entries
            .iter()
            .filter(|e| e.key != "name" && !e.value.is_null())
            .map(|e| (e.key, e.key_pos))
            .collect();
        if let Some((key, pos)) = sources.get(1) {
            cx.err(
                *pos,
                join(&o.path, key),
                "a volume takes exactly one source (emptyDir or hostPath)",
            );
        }
        let mut source = None;
        if let Some((n, p)) = o.get(cx, "emptyDir") {
            source = empty_dir(cx, n, &p);
        }
        if let Some((n, p)) = o.get(cx, "hostPath") {
            let hp = host_path(cx, n, &p);
            if source.is_none() {
                source = hp;
            }
        }
        if sources.is_empty() {
            // Without any source Kubernetes defaults to an emptyDir.
            source = Some(VolumeSource::EmptyDir {
                medium: StorageMedium::Default,
                size_limit: None,
            });
        }
        let ok = sources.len() <= 1;
        cx.finish(o, &VOLUME);
        if let (Some(name), Some(source), true) = (name, source, ok) {
            out.push(Volume { name, source });
        }
    }
    (out, seen.into_keys().collect())
}

fn empty_dir(cx: &mut Cx, n: &Node, path: &str) -> Option<VolumeSource> {
    let mut e = cx.map(n, path)?;
    let mut medium = Some(StorageMedium::Default);
    let mut size_limit = Ok(None);
    if let Some((n, p)) = e.get(cx, "medium") {
        medium = cx.string(n, &p).and_then(|s| match s.as_str() {
            "" => Some(StorageMedium::Default),
            "Memory" => Some(StorageMedium::Memory),
            m if m.starts_with("HugePages") => {
                cx.err(
                    n.pos,
                    p,
                    "HugePages emptyDir volumes are not supported by podrt",
                );
                None
            }
            m => {
                cx.err(n.pos, p, format!("{m:?} is not one of \"\", \"Memory\""));
                None
            }
        });
    }
    if let Some((n, p)) = e.get(cx, "sizeLimit") {
        let parsed = match n.scalar().map(|s| quantity::parse(&s.text)) {
            Some(Ok(q)) if !q.is_negative() => match q.units_ceil() {
                Some(b) => Ok(b),
                None => Err("is too large".to_string()),
            },
            Some(Ok(_)) => Err("must not be negative".to_string()),
            Some(Err(err)) => Err(err.to_string()),
            None => Err(format!("expected a quantity, found {}", n.describe())),
        };
        size_limit = match parsed {
            Ok(b) => Ok(Some(b)),
            Err(m) => {
                cx.err(n.pos, p, m);
                Err(())
            }
        };
    }
    cx.finish(e, &EMPTY_DIR);
    Some(VolumeSource::EmptyDir {
        medium: medium?,
        size_limit: size_limit.ok()?,
    })
}

fn host_path(cx: &mut Cx, n: &Node, path: &str) -> Option<VolumeSource> {
    let mut h = cx.map(n, path)?;
    let hp = h.required(cx, "path").and_then(|(n, p)| {
        let s = cx.non_empty_string(n, &p)?;
        if !s.starts_with('/') {
            cx.err(n.pos, p, format!("{s:?} must be an absolute path"));
            return None;
        }
        if s.split('/').any(|c| c == "..") {
            cx.err(n.pos, p, format!("{s:?} must not contain '..'"));
            return None;
        }
        Some(s)
    });
    let kind = match h.get(cx, "type") {
        Some((n, p)) => cx.choice(
            n,
            &p,
            &[
                ("", HostPathType::Unset),
                ("DirectoryOrCreate", HostPathType::DirectoryOrCreate),
                ("Directory", HostPathType::Directory),
                ("FileOrCreate", HostPathType::FileOrCreate),
                ("File", HostPathType::File),
                ("Socket", HostPathType::Socket),
                ("CharDevice", HostPathType::CharDevice),
                ("BlockDevice", HostPathType::BlockDevice),
            ],
        ),
        None => Some(HostPathType::Unset),
    };
    cx.finish(h, &HOST_PATH);
    Some(VolumeSource::HostPath {
        path: hp?,
        kind: kind?,
    })
}

fn check_unique_containers(cx: &mut Cx, pod: &Pod) {
    let mut seen: BTreeMap<&str, Pos> = BTreeMap::new();
    let paths: Vec<(String, String)> = pod
        .all_containers()
        .map(|(p, _, c)| (format!("{p}.name"), c.name.clone()))
        .collect();
    for (path, name) in &paths {
        if name.is_empty() {
            continue;
        }
        let pos = cx.positions.get(path).copied().unwrap_or_default();
        if let Some(first) = seen.get(name.as_str()) {
            let msg = format!(
                "duplicate container name {name:?} (first at line {}); names must be unique \
                 across initContainers and containers",
                first.line
            );
            cx.err(pos, path.clone(), msg);
        } else {
            seen.insert(name, pos);
        }
    }
}

/// App containers share the pod's network namespace: a (port, protocol) can be declared once;
/// a host port once per protocol across the whole pod.
fn check_unique_ports(cx: &mut Cx, pod: &Pod) {
    let mut container_ports: BTreeMap<(u16, Protocol), Pos> = BTreeMap::new();
    let mut host_ports: BTreeMap<(u16, Protocol), Pos> = BTreeMap::new();
    let mut findings = Vec::new();
    for (cpath, init, c) in pod.all_containers() {
        for (i, port) in c.ports.iter().enumerate() {
            let ppath = format!("{cpath}.ports[{i}]");
            if !init {
                let path = format!("{ppath}.containerPort");
                let pos = cx.positions.get(&path).copied().unwrap_or_default();
                let key = (port.container_port, port.protocol);
                if let Some(first) = container_ports.get(&key) {
                    findings.push((
                        pos,
                        path,
                        format!(
                            "duplicate port {}/{} (first at line {}); the pod's containers share \
                             one network namespace",
                            port.container_port,
                            port.protocol.as_str(),
                            first.line
                        ),
                    ));
                } else {
                    container_ports.insert(key, pos);
                }
            }
            if let Some(hp) = port.host_port {
                let path = format!("{ppath}.hostPort");
                let pos = cx.positions.get(&path).copied().unwrap_or_default();
                let key = (hp, port.protocol);
                if let Some(first) = host_ports.get(&key) {
                    findings.push((
                        pos,
                        path,
                        format!(
                            "duplicate host port {hp}/{} (first at line {})",
                            port.protocol.as_str(),
                            first.line
                        ),
                    ));
                } else {
                    host_ports.insert(key, pos);
                }
            }
        }
    }
    for (pos, path, msg) in findings {
        cx.err(pos, path, msg);
    }
}
