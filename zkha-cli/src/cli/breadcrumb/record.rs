//! The breadcrumb node: where it is (beside the master node) and what it
//! holds (the last master, as JSON).

use serde_json::{json, Map, Value};

/// The breadcrumb node of a master node (or, in sequence mode, of the
/// election parent).
pub fn breadcrumb_path(path: &str) -> String {
    format!("{path}.breadcrumb")
}

/// What the breadcrumb says about the master that wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breadcrumb {
    /// The master's node data, as written (zkha's data ends in a NUL).
    pub data: Vec<u8>,
    /// The master's session id.
    pub session: i64,
    /// The master's fencing token (its node's czxid, `ZKHA_TOKEN`).
    pub token: i64,
    /// When it became master (its node's ctime), ms since the epoch.
    pub since_ms: i64,
    /// It exited or resigned gracefully: nothing to fence.
    pub clean: bool,
    /// Why it left cleanly, when it did: "resigned", "unhealthy" (its
    /// health check failed), "exited" (its command exited), "stopped" (a
    /// signal stopped zkha).
    pub left: Option<String>,
}

impl Breadcrumb {
    /// The node's data: compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        let mut object = Map::new();
        match std::str::from_utf8(&self.data) {
            Ok(text) => object.insert("data".into(), Value::String(text.into())),
            Err(_) => object.insert("data_hex".into(), Value::String(hex(&self.data))),
        };
        object.insert("session".into(), json!(format!("{:#x}", self.session)));
        object.insert("token".into(), json!(self.token));
        object.insert("since_ms".into(), json!(self.since_ms));
        object.insert("clean".into(), json!(self.clean));
        if let Some(left) = &self.left {
            object.insert("left".into(), json!(left));
        }
        serde_json::to_vec(&Value::Object(object)).expect("a JSON value always serialises")
    }

    /// Parses the node's data; the error says what is wrong. Unknown keys
    /// are ignored (a later version may add some).
    pub fn from_json(bytes: &[u8]) -> Result<Breadcrumb, String> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(o) = value else {
            return Err("not a JSON object".into());
        };
        let data = match (o.get("data"), o.get("data_hex")) {
            (Some(Value::String(s)), None) => s.as_bytes().to_vec(),
            (None, Some(Value::String(h))) => unhex(h).ok_or("\"data_hex\": not hex")?,
            (Some(_), Some(_)) => return Err("both \"data\" and \"data_hex\"".into()),
            (None, None) => return Err("no \"data\" (or \"data_hex\")".into()),
            _ => return Err("\"data\"/\"data_hex\": not a string".into()),
        };
        let session = match o.get("session") {
            Some(Value::String(s)) => s
                .strip_prefix("0x")
                .and_then(|h| u64::from_str_radix(h, 16).ok())
                .map(|id| id as i64)
                .ok_or_else(|| format!("\"session\": {s:?} is not 0x hex"))?,
            _ => return Err("\"session\": missing or not a string".into()),
        };
        let int = |key: &str| {
            o.get(key)
                .and_then(Value::as_i64)
                .ok_or_else(|| format!("\"{key}\": missing or not an integer"))
        };
        let clean = o
            .get("clean")
            .and_then(Value::as_bool)
            .ok_or("\"clean\": missing or not true/false")?;
        let left = match o.get("left") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err("\"left\": not a string".into()),
        };
        Ok(Breadcrumb {
            data,
            session,
            token: int("token")?,
            since_ms: int("since_ms")?,
            clean,
            left,
        })
    }

    /// The data as text, as `status` shows a holder's: the trailing NUL
    /// dropped, invalid UTF-8 replaced.
    pub fn data_text(&self) -> String {
        let d = self.data.strip_suffix(&[0]).unwrap_or(&self.data);
        String::from_utf8_lossy(d).into_owned()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}
