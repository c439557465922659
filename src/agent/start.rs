//! `start`: validate the configuration and create the state file.

use super::{fail, publish, Ctx};
use crate::config::Config;
use crate::info;
use crate::ocf::Outcome;
use crate::state::{self, State};

pub fn start(ctx: &Ctx) -> Outcome {
    let config = match Config::from_params(ctx.raw, ctx.env) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    if let Err(e) = state::ensure_dir(&config.state_dir) {
        return fail(e);
    }
    let path = config.state_dir.state_file(ctx.env);
    if state::exists(&path) {
        return Outcome::ok();
    }
    let st = State::new(&ctx.env.instance, state::now());
    match state::write(&path, &st) {
        Ok(()) => {
            info!(
                "started; first flush of target {} ({}) at the next monitor ({})",
                config.target.name(),
                config.target.describe(),
                config.db.redacted()
            );
            publish(&config, ctx.env, &st);
            Outcome::ok()
        }
        Err(e) => fail(e),
    }
}
