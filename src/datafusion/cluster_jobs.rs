//! [`ClusterJobs`]: the Ballista jobs a client session started, so that an interrupt
//! (Ctrl-C in `zerobus-sql --ballista`) cancels them on the cluster. Without it the
//! executors keep reading and writing after the client stopped waiting: Ballista's client
//! cancels a job only when it cannot read its results, not when its stream is dropped.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ballista_core::execution_plans::DistributedQueryExec;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::{job_status, CancelJobParams, GetJobStatusParams};
use ballista_core::utils::{create_grpc_client_connection, GrpcClientConfig};
use datafusion::catalog::Session;
use datafusion::error::Result;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::protobuf::LogicalPlanNode;

type Submitted = DistributedQueryExec<LogicalPlanNode>;

/// The cluster plans of one client session's latest statement (their nodes learn the job
/// id when the scheduler accepts the job). Cheap to clone.
///
/// The nodes are kept, not watched: DataFusion drops a plan once its stream is made, and
/// the job id lives on in the node's shared handle. Only the latest statement's are kept;
/// whether a job still runs is the scheduler's word, asked at cancel time.
///
/// ```no_run
/// # async fn demo(state: datafusion::execution::SessionState) -> datafusion::error::Result<()> {
/// use arrow_zerobus_sdk_wrapper::datafusion::ballista::ClusterJobs;
/// let jobs = ClusterJobs::new("http://127.0.0.1:50050");
/// let ctx = datafusion::prelude::SessionContext::new_with_state(jobs.track(state)?);
/// // … on Ctrl-C:
/// for line in jobs.cancel_running().await {
///     eprintln!("{line}");
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ClusterJobs {
    scheduler: String,
    plans: Arc<Mutex<Vec<Arc<dyn ExecutionPlan>>>>,
}

impl ClusterJobs {
    /// Jobs submitted to the scheduler at `scheduler` (`http://HOST:PORT`).
    pub fn new(scheduler: impl Into<String>) -> Self {
        Self {
            scheduler: scheduler.into(),
            plans: Arc::default(),
        }
    }

    /// `state` with a query planner that records each cluster plan it makes (the
    /// Ballista planner of `state` still makes them), and Ballista's pull job tracking:
    /// with it the client knows a job's id as soon as the scheduler accepts the job (push
    /// tracking learns it from a status update that may come only at the end).
    pub fn track(&self, mut state: SessionState) -> Result<SessionState> {
        state
            .config_mut()
            .options_mut()
            .set("ballista.client.pull", "true")?;
        let inner = state.query_planner().clone();
        Ok(SessionStateBuilder::new_from_existing(state)
            .with_query_planner(Arc::new(Recording {
                inner,
                jobs: self.clone(),
            }))
            .build())
    }

    /// Keep the cluster nodes of `plan` (a statement's whole plan) instead of the last
    /// statement's.
    fn remember(&self, plan: &Arc<dyn ExecutionPlan>) {
        let mut found = Vec::new();
        submitted_nodes(plan, &mut found);
        *self.plans.lock().unwrap_or_else(|e| e.into_inner()) = found;
    }

    /// Ids of the latest statement's jobs that the scheduler accepted.
    pub fn submitted(&self) -> Vec<String> {
        let plans = self.plans.lock().unwrap_or_else(|e| e.into_inner());
        plans
            .iter()
            .filter_map(|p| {
                let submitted = p.downcast_ref::<Submitted>()?;
                submitted.job_id().map(|id| id.to_string())
            })
            .collect()
    }

    /// Ask the scheduler to cancel the latest statement's jobs that are still queued or
    /// running; one line per job saying what happened (the executors stop their tasks;
    /// batches already in flight there settle, acknowledged or dead-lettered on the
    /// executor). Nothing when no job is running.
    pub async fn cancel_running(&self) -> Vec<String> {
        let jobs = self.submitted();
        if jobs.is_empty() {
            return jobs;
        }
        let channel = match create_grpc_client_connection(
            self.scheduler.clone(),
            &GrpcClientConfig::default(),
        )
        .await
        {
            Ok(c) => c,
            Err(e) => {
                return jobs
                    .iter()
                    .map(|j| {
                        format!(
                            "could not reach the scheduler {} to cancel job {j}: {e}; it may \
                                 still be running on the cluster",
                            self.scheduler
                        )
                    })
                    .collect()
            }
        };
        let mut client = SchedulerGrpcClient::new(channel);
        let mut lines = Vec::with_capacity(jobs.len());
        for job_id in jobs {
            let status = client
                .get_job_status(GetJobStatusParams {
                    job_id: job_id.clone(),
                })
                .await
                .ok()
                .and_then(|r| r.into_inner().status)
                .and_then(|s| s.status);
            if matches!(
                status,
                Some(job_status::Status::Failed(_) | job_status::Status::Successful(_))
            ) {
                continue;
            }
            let asked = client
                .cancel_job(CancelJobParams {
                    job_id: job_id.clone(),
                })
                .await;
            lines.push(match asked {
                Ok(r) if r.get_ref().cancelled => format!(
                    "cancelled cluster job {job_id}: its executors stop their tasks (batches in \
                     flight there settle: acknowledged, or dead-lettered on the executor)"
                ),
                Ok(_) => format!("the scheduler did not cancel job {job_id}"),
                Err(e) => format!(
                    "could not cancel cluster job {job_id}: {}; it may still be running",
                    e.message()
                ),
            });
        }
        lines
    }
}

/// The nodes of `plan` that run on the cluster.
fn submitted_nodes(plan: &Arc<dyn ExecutionPlan>, found: &mut Vec<Arc<dyn ExecutionPlan>>) {
    if plan.downcast_ref::<Submitted>().is_some() {
        found.push(plan.clone());
    }
    for child in plan.children() {
        submitted_nodes(child, found);
    }
}

/// The session's query planner, recording the cluster plans it makes.
#[derive(Debug)]
struct Recording {
    inner: Arc<dyn QueryPlanner + Send + Sync>,
    jobs: ClusterJobs,
}

#[async_trait]
impl QueryPlanner for Recording {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = self
            .inner
            .create_physical_plan(logical_plan, session)
            .await?;
        self.jobs.remember(&plan);
        Ok(plan)
    }
}
