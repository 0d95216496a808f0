//! The shared evidence pass: when several target groups are diagnosed together (a metric-math
//! alarm, a burst of alarms, `scan`), what is cluster-wide or VPC-wide (nodes, kube-proxy, the
//! controller, a namespace's events, a VPC's subnets, ACLs, routes and security groups, the
//! node instances, a load balancer) is read once and every diagnosis gets a copy. Only the
//! per-group reads (target health, the Service and its pods) are made per group. One diagnosis
//! alone uses a fresh `Shared`, so its calls are exactly those of the pass with a set of one.
//!
//! Each read is keyed by what it reads *and where* (the account and region, or the cluster):
//! two clusters or two accounts in one pass never share evidence. Concurrent asks for the same
//! key wait for the first (single flight), so a pass never reads a thing twice at once.
//!
//! CloudTrail lookups share a pacer here too: two a second per pass (CloudTrail's own rate per
//! account and region), at most `trail_budget` resources, the rest named as not looked up.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::snapshot::{AwsChange, Missing};

type Cell = Arc<dyn Any + Send + Sync>;
/// One resource's CloudTrail history, or why it is not known.
type Lookup = Result<Vec<AwsChange>, Missing>;

/// Reads shared by the diagnoses of one pass.
pub struct Shared {
    cells: Mutex<HashMap<String, Cell>>,
    /// CloudTrail: lookups made so far (their slots), and how many distinct resources a pass may look up.
    trail_slots: Mutex<(Option<tokio::time::Instant>, usize)>,
    trail_budget: usize,
    /// A pass of several target groups (`Shared::pass`), not a diagnosis alone.
    pass: bool,
    trail: Mutex<HashMap<String, Arc<OnceCell<Lookup>>>>,
}

impl Default for Shared {
    /// One diagnosis: the budget is one diagnosis's resources.
    fn default() -> Self {
        Shared::with_trail_budget(super::cloudtrail::MAX_RESOURCES)
    }
}

impl Shared {
    /// A pass of several target groups. It looks up in CloudTrail what one diagnosis would (a
    /// scan must not wait on CloudTrail's two lookups a second for each group), the shared
    /// resources first (`collect::trail_resources`): what a storm has in common.
    pub fn pass() -> Shared {
        Shared {
            pass: true,
            ..Shared::with_trail_budget(super::cloudtrail::MAX_RESOURCES)
        }
    }

    pub fn with_trail_budget(trail_budget: usize) -> Shared {
        Shared {
            cells: Mutex::default(),
            trail_slots: Mutex::new((None, 0)),
            trail_budget,
            pass: false,
            trail: Mutex::default(),
        }
    }

    /// The value read under `key`, reading it with `read` only if no diagnosis of the pass has.
    pub async fn once<T, Fut>(&self, key: String, read: impl FnOnce() -> Fut) -> T
    where
        T: Clone + Send + Sync + 'static,
        Fut: Future<Output = T>,
    {
        let cell = {
            let mut cells = self.cells.lock().expect("lock");
            let any = cells.entry(key).or_insert_with(|| Arc::new(OnceCell::<T>::new()) as Cell).clone();
            any.downcast::<OnceCell<T>>()
        };
        match cell {
            // The read is boxed: a collection nests many of these, and each unboxed would hold
            // its whole read inline (a debug build's stack frames grow with them).
            Ok(cell) => cell.get_or_init(move || Box::pin(read())).await.clone(),
            // Two call sites used one key for different types: a bug, but never a wrong answer.
            Err(_) => Box::pin(read()).await,
        }
    }

    /// The value read under `key`, if some diagnosis of the pass has read it (or the pass was
    /// primed with it); `None` otherwise, or while it is still being read.
    pub fn get<T: Clone + Send + Sync + 'static>(&self, key: &str) -> Option<T> {
        let cell = self.cells.lock().expect("lock").get(key).cloned()?;
        cell.downcast::<OnceCell<T>>().ok()?.get().cloned()
    }

    /// Is this a pass of several target groups?
    pub fn is_pass(&self) -> bool {
        self.pass
    }

    /// How many distinct reads the pass has made (for logs and benchmarks).
    pub fn reads(&self) -> usize {
        self.cells.lock().expect("lock").len()
    }

    /// A CloudTrail lookup of `resource` (in the scope `scope`), made once per pass, paced at
    /// two a second, and refused beyond the pass's budget.
    pub async fn trail<Fut>(&self, scope: &str, resource: &str, lookup: impl FnOnce() -> Fut) -> Result<Vec<AwsChange>, Missing>
    where
        Fut: Future<Output = Result<Vec<AwsChange>, Missing>>,
    {
        let key = format!("{scope}|{resource}");
        let cell = {
            let mut cells = self.trail.lock().expect("lock");
            if !cells.contains_key(&key) && cells.len() >= self.trail_budget {
                return Err(Missing {
                    api: "cloudtrail:LookupEvents".into(),
                    permission: "time".into(),
                    error: format!(
                        "{resource} was not looked up: this pass looked up {} resources, as many as CloudTrail's two lookups a second allow in time",
                        self.trail_budget
                    ),
                });
            }
            cells.entry(key).or_default().clone()
        };
        cell.get_or_init(|| async {
            self.pace().await;
            lookup().await
        })
        .await
        .clone()
    }

    /// Waits for this lookup's slot: two per second, the first two at once.
    async fn pace(&self) {
        let at = {
            let mut slots = self.trail_slots.lock().expect("lock");
            let start = *slots.0.get_or_insert_with(tokio::time::Instant::now);
            let n = slots.1;
            slots.1 += 1;
            start + Duration::from_secs((n / 2) as u64)
        };
        tokio::time::sleep_until(at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_asks_for_one_key_read_it_once() {
        // GIVEN a pass and a read that counts its calls
        let shared = Shared::default();
        let calls = AtomicUsize::new(0);
        let read = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            vec!["node-a".to_string()]
        };
        // WHEN five diagnoses ask for the nodes at once, and one asks for another cluster's
        let (a, b, c, d, e, other) = tokio::join!(
            shared.once("c1|nodes".into(), read),
            shared.once("c1|nodes".into(), read),
            shared.once("c1|nodes".into(), read),
            shared.once("c1|nodes".into(), read),
            shared.once("c1|nodes".into(), read),
            shared.once("c2|nodes".into(), read),
        );
        // THEN one read per cluster, every diagnosis with the same answer
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!([&b, &c, &d, &e, &other].iter().all(|x| **x == a));
    }

    #[tokio::test]
    async fn a_key_reused_for_another_type_reads_again_instead_of_panicking() {
        let shared = Shared::default();
        let n: u32 = shared.once("k".into(), || async { 7 }).await;
        let s: String = shared.once("k".into(), || async { "seven".to_string() }).await;
        assert_eq!((n, s.as_str()), (7, "seven"));
    }

    #[tokio::test(start_paused = true)]
    async fn cloudtrail_lookups_are_shared_paced_and_bounded_by_the_budget() {
        // GIVEN a pass allowed three lookups
        let shared = Shared::with_trail_budget(3);
        let calls = AtomicUsize::new(0);
        let started = tokio::time::Instant::now();
        let lookup = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(vec![])
        };
        // WHEN four diagnoses look up the same group, then two others, then a fourth resource
        let same = futures::future::join_all((0..4).map(|_| shared.trail("a", "sg-1", lookup))).await;
        let (x, y) = tokio::join!(shared.trail("a", "acl-1", lookup), shared.trail("a", "rtb-1", lookup));
        let over = shared.trail("a", "tg-1", lookup).await;
        // THEN the group was looked up once, three lookups in all, the third a second later
        assert!(same.iter().chain([&x, &y]).all(|r| r.is_ok()));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(started.elapsed().as_secs(), 1);
        // AND the resource beyond the budget is named as not looked up
        let why = over.unwrap_err().error;
        assert!(why.starts_with("tg-1 was not looked up"), "{why}");
    }
}
