//! Cron jobs of the daemon: one sync job and one reconcile job per
//! connection, on tokio-cron-scheduler. A tick only asks the registry for a
//! run; the registry skips it if the connection is busy or backing off, so a
//! slow run never piles up ticks.

use std::sync::Arc;

use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use uuid::Uuid;

use super::registry::{Origin, Registry};
use crate::config::ConnectionConfig;
use crate::sync::RunMode;

/// The scheduler and the jobs it holds for the current config.
pub struct Scheduler {
    inner: JobScheduler,
    jobs: Vec<Uuid>,
}

impl Scheduler {
    /// Starts an empty scheduler.
    pub async fn start() -> Result<Self, JobSchedulerError> {
        let inner = JobScheduler::new().await?;
        inner.start().await?;
        Ok(Scheduler {
            inner,
            jobs: Vec::new(),
        })
    }

    /// Replaces every job with those of `connections`.
    pub async fn install(
        &mut self,
        registry: &Arc<Registry>,
        connections: &[ConnectionConfig],
    ) -> Result<(), JobSchedulerError> {
        for job in self.jobs.drain(..) {
            self.inner.remove(&job).await?;
        }
        for connection in connections {
            let sync = job(
                registry,
                &connection.name,
                &connection.schedule,
                RunMode::Sync,
            )?;
            self.jobs.push(self.inner.add(sync).await?);
            if let Some(schedule) = &connection.reconcile_schedule {
                let reconcile = job(
                    registry,
                    &connection.name,
                    schedule,
                    RunMode::Reconcile { adopt: false },
                )?;
                self.jobs.push(self.inner.add(reconcile).await?);
            }
        }
        Ok(())
    }

    /// Stops scheduling; runs in progress are not affected.
    pub async fn shutdown(&mut self) -> Result<(), JobSchedulerError> {
        self.inner.shutdown().await
    }
}

fn job(
    registry: &Arc<Registry>,
    name: &str,
    schedule: &str,
    mode: RunMode,
) -> Result<Job, JobSchedulerError> {
    let registry = registry.clone();
    let name = name.to_string();
    Job::new_async(schedule, move |_id, _scheduler| {
        let registry = registry.clone();
        let name = name.clone();
        Box::pin(async move {
            // The run happens in its own task so the scheduler's tick
            // handling never waits for a long sync.
            tokio::spawn(async move {
                let _ = registry
                    .trigger(&name, mode, false, false, Origin::Schedule)
                    .await;
            });
        })
    })
}
