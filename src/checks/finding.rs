//! What a check returns: a [`Finding`] with its [`Status`], evidence and remediation, as the
//! diagnosis JSON carries it (schemaVersion 1).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::CheckId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Warn,
    Unknown,
    Skipped,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub check: CheckId,
    pub status: Status,
    pub title: String,
    pub detail: String,
    pub evidence: Value,
    pub remediation: Vec<String>,
    /// Ids of the unhealthy targets this failure explains, sorted and unique; ranks root-cause
    /// candidates.
    #[serde(skip)]
    pub explains: Vec<String>,
    /// Healthy targets that show the same fault: if they pass with it, it is not why the others
    /// fail. The verdict demotes such a candidate and says so.
    #[serde(skip)]
    pub shared_by_healthy: Vec<String>,
}

impl Finding {
    pub fn new(check: CheckId, status: Status, title: impl Into<String>, detail: impl Into<String>) -> Self {
        Finding {
            check,
            status,
            title: title.into(),
            detail: detail.into(),
            evidence: Value::Object(Default::default()),
            remediation: vec![],
            explains: vec![],
            shared_by_healthy: vec![],
        }
    }
    pub fn pass(check: CheckId, title: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(check, Status::Pass, title, detail)
    }
    pub fn fail(check: CheckId, title: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(check, Status::Fail, title, detail)
    }
    pub fn warn(check: CheckId, title: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(check, Status::Warn, title, detail)
    }
    /// Evidence missing: `why` names the API or permission.
    pub fn unknown(check: CheckId, why: impl Into<String>) -> Self {
        Self::new(check, Status::Unknown, "Not enough evidence", why)
    }
    /// Does not apply here: `why` says why.
    pub fn skipped(check: CheckId, why: impl Into<String>) -> Self {
        Self::new(check, Status::Skipped, "Skipped", why)
    }
    /// Evidence of any serialisable shape: typed rows (`#[derive(Serialize)]`) or `json!`.
    pub fn evidence(mut self, evidence: impl Serialize) -> Self {
        // A derived Serialize of plain data cannot fail; an empty object is the safe fallback.
        self.evidence = serde_json::to_value(evidence).unwrap_or_else(|_| Value::Object(Default::default()));
        self
    }
    pub fn remediation(mut self, steps: Vec<String>) -> Self {
        self.remediation = steps;
        self
    }
    /// Healthy targets with the same fault (see `shared_by_healthy`).
    pub fn shared_by_healthy(mut self, targets: Vec<String>) -> Self {
        self.shared_by_healthy = targets;
        self
    }
    /// The unhealthy targets this finding explains: sorted and de-duplicated here, once, so
    /// checks may collect them in any order.
    pub fn explains(mut self, targets: impl IntoIterator<Item = impl Into<String>>) -> Self {
        let mut ids: Vec<String> = targets.into_iter().map(Into::into).collect();
        ids.sort();
        ids.dedup();
        self.explains = ids;
        self
    }
}

/// "the timeout…" → "The timeout…": details are sentences.
pub fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explained_targets_are_sorted_and_unique() {
        // GIVEN targets collected twice and out of order
        let f = Finding::fail(CheckId::NODES, "t", "d").explains(["i-2", "i-1", "i-2"]);
        // THEN the finding holds each once, in order
        assert_eq!(f.explains, vec!["i-1", "i-2"]);
    }

    #[test]
    fn capitalise_makes_a_sentence() {
        assert_eq!(capitalise("the path"), "The path");
        assert_eq!(capitalise(""), "");
    }
}
