//! Independent jobs over several devices: one worker thread per listed device, each taking
//! the next job from a shared queue (no communication between workers), for work that is
//! embarrassingly parallel — many recordings through one model, many sessions, many
//! restarts. A device listed twice gets two workers (e.g. `[cpu, cpu]` on a many-core host,
//! or two streams of work on one large GPU). Jobs are taken in order and results come back
//! in job order, whichever worker ran them; faster devices simply take more jobs.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};

use crate::device::Device;
use crate::error::{CoreError, Result};
use crate::observer::{Flow, Observer, Progress};

/// Runs `work(device, index, job)` for every job on a pool of one worker thread per entry of
/// `devices`, and returns the results in job order.
///
/// Each worker owns its device for the whole run (create device state — a candle device, a
/// model copy — inside `work`, or cache it per thread). A job that panics becomes
/// [`CoreError::JobPanicked`] and the others run on. The observer sees one
/// `Progress { stage: "job", step: jobs done − 1, total, metrics: [("job", index),
/// ("worker", worker index)] }` per finished job, on the calling thread; [`Flow::Stop`]
/// lets running jobs finish; each worker starts at most one more (a worker hands its result
/// over before taking the next job) and the rest are [`CoreError::JobCancelled`].
///
/// Errors: an empty `devices` list is [`CoreError::InvalidParameter`].
///
/// ```
/// use spikelab_core::{Device, Silent, workers::run_on_devices};
/// // Sum of squares of 1..=n for ten n, on two CPU workers.
/// let jobs: Vec<u64> = (1..=10).collect();
/// let out = run_on_devices(&[Device::Cpu, Device::Cpu], jobs, |_dev, _i, n| {
///     Ok::<u64, spikelab_core::CoreError>((1..=n).map(|k| k * k).sum())
/// }, &mut Silent)?;
/// assert_eq!(out[2].as_ref().ok(), Some(&14));
/// assert_eq!(out.len(), 10);
/// # Ok::<(), spikelab_core::CoreError>(())
/// ```
pub fn run_on_devices<J, R, E, F>(
    devices: &[Device],
    jobs: Vec<J>,
    work: F,
    observer: &mut impl Observer,
) -> Result<Vec<std::result::Result<R, E>>>
where
    J: Send,
    R: Send,
    E: Send + From<CoreError>,
    F: Fn(Device, usize, J) -> std::result::Result<R, E> + Sync,
{
    if devices.is_empty() {
        return Err(CoreError::InvalidParameter {
            name: "devices",
            reason: "need at least one device".into(),
        });
    }
    let total = jobs.len();
    let queue = Mutex::new(jobs.into_iter().enumerate().collect::<VecDeque<_>>());
    let stop = AtomicBool::new(false);
    let mut results: Vec<Option<std::result::Result<R, E>>> = (0..total).map(|_| None).collect();
    // A rendezvous channel: a worker hands its result over before it takes the next job, so
    // after a stop each worker starts at most one more job.
    let (tx, rx) = mpsc::sync_channel::<(usize, usize, std::result::Result<R, E>)>(0);
    std::thread::scope(|scope| {
        for (wi, &device) in devices.iter().enumerate() {
            let tx = tx.clone();
            let (queue, stop, work) = (&queue, &stop, &work);
            scope.spawn(move || {
                loop {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    // A poisoned lock only means another worker panicked outside `work`.
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                    let Some((i, job)) = next else { break };
                    let r = catch_unwind(AssertUnwindSafe(|| work(device, i, job))).unwrap_or_else(
                        |payload| {
                            Err(E::from(CoreError::JobPanicked {
                                job: i,
                                device: device.to_string(),
                                message: panic_message(payload.as_ref()),
                            }))
                        },
                    );
                    if tx.send((i, wi, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (done, (i, wi, r)) in rx.iter().enumerate() {
            results[i] = Some(r);
            let p = Progress::new("job", done)
                .with_total(total)
                .with_metric("job", i as f64)
                .with_metric("worker", wi as f64);
            if observer.observe(&p) == Flow::Stop {
                stop.store(true, Ordering::Release);
            }
        }
    });
    Ok(results
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|| Err(E::from(CoreError::JobCancelled { job: i }))))
        .collect())
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic payload".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observer::Silent;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn every_job_runs_once_and_results_keep_job_order() {
        let runs = AtomicUsize::new(0);
        let jobs: Vec<usize> = (0..200).collect();
        let out = run_on_devices(
            &[Device::Cpu, Device::Cpu, Device::Cpu],
            jobs,
            |_, i, j| {
                runs.fetch_add(1, Ordering::Relaxed);
                assert_eq!(i, j);
                Ok::<_, CoreError>(j * 3)
            },
            &mut Silent,
        )
        .unwrap();
        assert_eq!(runs.load(Ordering::Relaxed), 200);
        for (i, r) in out.iter().enumerate() {
            assert_eq!(*r.as_ref().unwrap(), i * 3);
        }
    }

    #[test]
    fn workers_get_their_own_device() {
        let devices = [Device::Cpu, Device::Cuda(0), Device::Cuda(1)];
        let seen = Mutex::new(Vec::new());
        run_on_devices(
            &devices,
            (0..30).collect::<Vec<_>>(),
            |d, _, _: i32| {
                seen.lock().unwrap().push(d);
                // Long enough that every worker takes a job.
                std::thread::sleep(std::time::Duration::from_millis(5));
                Ok::<_, CoreError>(())
            },
            &mut Silent,
        )
        .unwrap();
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 30);
        assert!(seen.iter().all(|d| devices.contains(d)));
    }

    #[test]
    fn a_panicking_job_is_an_error_and_the_others_finish() {
        let out = run_on_devices(
            &[Device::Cpu, Device::Cuda(1)],
            (0..20).collect::<Vec<_>>(),
            |_, _, j: i32| {
                if j == 7 {
                    panic!("bad recording {j}");
                }
                Ok::<_, CoreError>(j)
            },
            &mut Silent,
        )
        .unwrap();
        assert!(matches!(
            &out[7],
            Err(CoreError::JobPanicked { job: 7, message, .. }) if message == "bad recording 7"
        ));
        assert_eq!(out.iter().filter(|r| r.is_ok()).count(), 19);
    }

    #[test]
    fn stopping_cancels_the_jobs_not_started() {
        let mut seen = 0;
        let out = run_on_devices(
            &[Device::Cpu],
            (0..50).collect::<Vec<_>>(),
            |_, _, j: i32| Ok::<_, CoreError>(j),
            &mut |p: &Progress| {
                seen += 1;
                assert_eq!(p.stage, "job");
                if p.step == 2 {
                    Flow::Stop
                } else {
                    Flow::Continue
                }
            },
        )
        .unwrap();
        let cancelled = out
            .iter()
            .filter(|r| matches!(r, Err(CoreError::JobCancelled { .. })))
            .count();
        // The one worker may have taken one more job before it saw the stop.
        assert!((46..=47).contains(&cancelled), "{cancelled}");
        assert_eq!(cancelled + seen, 50);
        assert!(out[..3].iter().all(|r| r.is_ok()));
    }

    #[test]
    fn no_device_is_an_error() {
        let r = run_on_devices(
            &[],
            vec![1],
            |_, _, j: i32| Ok::<_, CoreError>(j),
            &mut Silent,
        );
        assert!(matches!(
            r,
            Err(CoreError::InvalidParameter {
                name: "devices",
                ..
            })
        ));
        let empty = run_on_devices(
            &[Device::Cpu],
            Vec::<i32>::new(),
            |_, _, j| Ok::<_, CoreError>(j),
            &mut Silent,
        )
        .unwrap();
        assert!(empty.is_empty());
    }
}
