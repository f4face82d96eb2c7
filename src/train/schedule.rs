//! Learning-rate schedules, as pure functions of training progress.

use crate::experiment::{Schedule, TrainConfig};

/// Learning rate at `step` (0-based) of `total` optimizer steps, `steps_per_epoch` per epoch.
pub fn lr_at(cfg: &TrainConfig, step: usize, steps_per_epoch: usize, total: usize) -> f64 {
    let spe = steps_per_epoch.max(1) as f64;
    let epoch = step as f64 / spe;
    let warmup = cfg.warmup_epochs.max(0.0);
    let base = cfg.lr;
    // One-cycle always warms up (a tenth of the run when no warm-up was given).
    let warmup = if cfg.schedule == Schedule::OneCycle && warmup == 0.0 {
        total as f64 / spe * 0.1
    } else {
        warmup
    };
    if warmup > 0.0 && epoch < warmup {
        let start = if cfg.schedule == Schedule::OneCycle {
            base / 25.0
        } else {
            0.0
        };
        return start + (base - start) * (step as f64 + 1.0) / (warmup * spe);
    }
    let decay_progress = || {
        let done = (epoch - warmup).max(0.0);
        let span = (total as f64 / spe - warmup).max(1e-9);
        (done / span).clamp(0.0, 1.0)
    };
    match cfg.schedule {
        Schedule::Constant => base,
        Schedule::Step => {
            let k = (epoch.floor() as usize) / cfg.step_epochs.max(1);
            base * cfg.gamma.powi(k as i32)
        }
        Schedule::Cosine | Schedule::OneCycle => {
            let p = decay_progress();
            cfg.min_lr + (base - cfg.min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(schedule: Schedule) -> TrainConfig {
        TrainConfig {
            schedule,
            lr: 1e-3,
            min_lr: 0.0,
            ..TrainConfig::default()
        }
    }

    #[test]
    fn constant_is_constant() {
        let c = cfg(Schedule::Constant);
        assert_eq!(lr_at(&c, 0, 10, 100), 1e-3);
        assert_eq!(lr_at(&c, 99, 10, 100), 1e-3);
    }

    #[test]
    fn step_decays_every_step_epochs() {
        let c = TrainConfig {
            step_epochs: 2,
            gamma: 0.5,
            ..cfg(Schedule::Step)
        };
        assert_eq!(lr_at(&c, 19, 10, 100), 1e-3);
        assert_eq!(lr_at(&c, 20, 10, 100), 5e-4);
        assert_eq!(lr_at(&c, 45, 10, 100), 2.5e-4);
    }

    #[test]
    fn cosine_goes_from_lr_to_min() {
        let c = cfg(Schedule::Cosine);
        assert!((lr_at(&c, 0, 10, 100) - 1e-3).abs() < 1e-12);
        assert!((lr_at(&c, 50, 10, 100) - 5e-4).abs() < 1e-9);
        assert!(lr_at(&c, 100, 10, 100) < 1e-9);
    }

    #[test]
    fn warmup_ramps_linearly_then_decays() {
        let c = TrainConfig {
            warmup_epochs: 1.0,
            ..cfg(Schedule::Cosine)
        };
        assert!((lr_at(&c, 0, 10, 100) - 1e-4).abs() < 1e-12);
        assert!((lr_at(&c, 9, 10, 100) - 1e-3).abs() < 1e-12);
        assert!(lr_at(&c, 10, 10, 100) <= 1e-3);
        let one = cfg(Schedule::OneCycle);
        // One-cycle starts at lr / 25 and climbs over the first tenth of the run.
        assert!(lr_at(&one, 0, 10, 100) < 2e-4);
        let peak = (0..100)
            .map(|s| lr_at(&one, s, 10, 100))
            .fold(0.0, f64::max);
        assert!((peak - 1e-3).abs() < 1e-9);
    }
}
