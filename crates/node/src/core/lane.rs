//! Work of one kind that may run at once, and how much of it may wait: past that, a request is
//! refused at once ([`NodeError::Overloaded`], 503 with `Retry-After`) rather than queued without
//! bound, in memory and in the time until it is answered.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{NodeError, NodeResult};

/// A lane: `running` places, and at most `max_waiting` requests waiting for one.
pub(crate) struct Lane {
    what: &'static str,
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

/// Counts a waiter until it has its place (or gives up).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Lane {
    pub(crate) fn new(what: &'static str, running: usize, max_waiting: usize) -> Lane {
        Lane { what, running: Arc::new(Semaphore::new(running.max(1))), waiting: AtomicUsize::new(0), max_waiting }
    }

    /// A place to run in, waiting for one if the queue has room; the place is the lane's
    /// until dropped (it can go along to the blocking pool and be left as soon as the work
    /// that needs it is done).
    pub(crate) async fn enter(&self) -> NodeResult<OwnedSemaphorePermit> {
        if let Ok(place) = self.running.clone().try_acquire_owned() {
            return Ok(place);
        }
        let waiting = Waiting(&self.waiting);
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            drop(waiting);
            return Err(NodeError::Overloaded { what: self.what, waiting: self.max_waiting });
        }
        let place = self.running.clone().acquire_owned().await.map_err(|_| NodeError::ShuttingDown)?;
        drop(waiting);
        Ok(place)
    }

    /// Requests waiting now.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_lane_refuses_at_once_and_takes_again_when_a_place_frees() {
        let lane = std::sync::Arc::new(Lane::new("inference", 1, 2));
        let first = lane.enter().await.unwrap();
        let (a, b) = (lane.clone(), lane.clone());
        let waiters = [
            tokio::spawn(async move { a.enter().await.map(drop) }),
            tokio::spawn(async move { b.enter().await.map(drop) }),
        ];
        while lane.waiting() < 2 {
            tokio::task::yield_now().await;
        }
        let refused = lane.enter().await.unwrap_err();
        assert!(matches!(refused, NodeError::Overloaded { what: "inference", waiting: 2 }), "{refused}");
        drop(first);
        for waiter in waiters {
            waiter.await.unwrap().unwrap();
        }
        assert_eq!(lane.waiting(), 0);
        drop(lane.enter().await.unwrap());
    }
}
