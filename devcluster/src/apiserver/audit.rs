//! Every request the server answered, in order: who (user and user agent) did what
//! (verb) to which resource. Served at `/debug/requests` so a test can
//! prove which permissions a client really needs (least-privilege RBAC).

use serde_json::{Value, json};

/// How many records are kept (the oldest are dropped first).
pub const LIMIT: usize = 100_000;

/// One request, in RBAC's terms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditRecord {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`; for a
    /// path outside the resources (discovery), the HTTP method in lower case.
    pub verb: String,
    /// The API group (`""` for core).
    pub group: String,
    /// The resource's plural; empty for a non-resource path.
    pub resource: String,
    /// `status` or empty.
    pub subresource: String,
    /// The namespace in the path, or empty.
    pub namespace: String,
    /// The object's name, or empty.
    pub name: String,
    /// The path, for non-resource requests.
    pub path: String,
    /// The client's User-Agent.
    pub user_agent: String,
    /// Who made it (after impersonation); empty when nobody could be
    /// authenticated.
    pub user: String,
    /// The HTTP status code answered.
    pub code: u16,
}

impl AuditRecord {
    /// As JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "verb": self.verb,
            "apiGroup": self.group,
            "resource": self.resource,
            "subresource": self.subresource,
            "namespace": self.namespace,
            "name": self.name,
            "path": self.path,
            "userAgent": self.user_agent,
            "user": self.user,
            "code": self.code,
        })
    }

    /// From [`AuditRecord::to_json`]'s form (what `/debug/requests` lists).
    pub fn from_json(value: &Value) -> AuditRecord {
        let text = |key: &str| value.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        AuditRecord {
            verb: text("verb"),
            group: text("apiGroup"),
            resource: text("resource"),
            subresource: text("subresource"),
            namespace: text("namespace"),
            name: text("name"),
            path: text("path"),
            user_agent: text("userAgent"),
            user: text("user"),
            code: value.get("code").and_then(Value::as_u64).and_then(|c| u16::try_from(c).ok()).unwrap_or(0),
        }
    }
}

/// The records, oldest first.
#[derive(Clone, Debug, Default)]
pub struct Audit {
    records: std::collections::VecDeque<AuditRecord>,
}

impl Audit {
    /// Adds a record.
    pub fn record(&mut self, record: AuditRecord) {
        self.records.push_back(record);
        while self.records.len() > LIMIT {
            self.records.pop_front();
        }
    }

    /// The records, oldest first.
    pub fn records(&self) -> impl Iterator<Item = &AuditRecord> {
        self.records.iter()
    }

    /// `{"items": [...]}`.
    pub fn to_json(&self) -> Value {
        json!({"items": self.records.iter().map(AuditRecord::to_json).collect::<Vec<_>>()})
    }
}
