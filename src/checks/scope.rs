//! What one check sees: the diagnosis-wide [`View`] of the snapshot plus the check's own id, and
//! the guards that end a check early with the right finding.
//!
//! A check's body is `Result<Finding, Finding>`: `Err` is the early answer (`unknown` naming the
//! missing evidence, `skipped` saying why the check does not apply), so the preamble of every
//! check is a few `?`s:
//!
//! ```ignore
//! fn check(ctx: &Scope) -> Result<Finding, Finding> {
//!     let svc = ctx.need_service()?;
//!     let acls = ctx.need(&ctx.snap.aws.network.network_acls, "the network ACLs")?;
//!     Ok(judge(ctx, svc, acls))
//! }
//! ```

use k8s_openapi::api::core::v1::{Pod, Service};

use super::{CheckId, Finding};
use crate::snapshot::{Fetched, TargetGroup, TargetHealth, View};

pub struct Scope<'v, 'a> {
    pub view: &'v View<'a>,
    pub id: CheckId,
}

impl<'a> std::ops::Deref for Scope<'_, 'a> {
    type Target = View<'a>;
    fn deref(&self) -> &View<'a> {
        self.view
    }
}

impl<'a> Scope<'_, 'a> {
    /// `unknown`: the evidence this check needs is missing; `why` names the API or permission.
    pub fn unknown(&self, why: impl Into<String>) -> Finding {
        Finding::unknown(self.id, why)
    }

    /// `skipped`: the check does not apply here; `why` says why.
    pub fn skipped(&self, why: impl Into<String>) -> Finding {
        Finding::skipped(self.id, why)
    }

    pub fn pass(&self, title: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding::pass(self.id, title, detail)
    }

    pub fn fail(&self, title: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding::fail(self.id, title, detail)
    }

    pub fn warn(&self, title: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding::warn(self.id, title, detail)
    }

    /// A piece of evidence, or `unknown`: "`what` is unknown: <API (permission): error>".
    pub fn need<'f, T>(&self, evidence: &'f Fetched<T>, what: &str) -> Result<&'f T, Finding> {
        evidence.get().map_err(|why| self.unknown(format!("{what} is unknown: {why}")))
    }

    /// The target group, or `unknown` naming why DescribeTargetGroups gave nothing.
    pub fn need_target_group(&self) -> Result<&'a TargetGroup, Finding> {
        self.tg.as_ref().map(|t| *t).map_err(|why| self.unknown(why.clone()))
    }

    /// The registered targets (possibly none), or `unknown` naming DescribeTargetHealth.
    pub fn need_targets(&self) -> Result<&'a [TargetHealth], Finding> {
        self.targets.as_ref().map(|t| *t).map_err(|why| self.unknown(why.clone()))
    }

    /// At least one registered target, or `skipped` ("no targets registered").
    pub fn need_some_targets(&self) -> Result<&'a [TargetHealth], Finding> {
        match self.need_targets()? {
            [] => Err(self.skipped("no targets registered")),
            all => Ok(all),
        }
    }

    /// The pods of the Service's namespace, or `unknown` naming the failed list.
    pub fn need_pods(&self) -> Result<&'a [Pod], Finding> {
        self.pods.as_ref().map(|p| *p).map_err(|why| self.unknown(why.clone()))
    }

    /// The Service for a Kubernetes check: `skipped` when nothing is mapped or the mapped Service
    /// does not exist (service-mapping reports that), `unknown` when the API failed.
    pub fn need_service(&self) -> Result<&'a Service, Finding> {
        match (&self.snap.resolution.service, &self.service) {
            (_, Ok(s)) => Ok(s),
            (None, Err(_)) => Err(self.skipped("the target group is not mapped to a Service (see service-mapping)")),
            (Some(_), Err(why)) if matches!(self.snap.kube.service, Fetched::Failed(ref m) if m.error.contains("NotFound")) => {
                Err(self.skipped(format!("{why} (see service-mapping)")))
            }
            (Some(_), Err(why)) => Err(self.unknown(why.clone())),
        }
    }
}
