//! `stop`: remove the state file. It succeeds whatever the parameters say.

use super::Ctx;
use crate::ocf::Outcome;
use crate::state::{self, StateDir};
use crate::{attrd, config, error, params};

pub fn stop(ctx: &Ctx) -> Outcome {
    // Fall back to the default directory when state_dir is malformed.
    let dir = config::state_dir(ctx.raw, ctx.env)
        .unwrap_or_else(|_| StateDir { path: ctx.env.rsctmp.clone().into(), is_default: true });
    let path = dir.state_file(ctx.env);
    if ctx.raw.get(&params::NODE_ATTRIBUTES).is_some_and(params::is_true) {
        attrd::clear(&ctx.env.instance);
    }
    if let Err(e) = state::remove(&path) {
        error!("stop: {e}");
    }
    Outcome::ok()
}
