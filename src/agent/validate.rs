//! `validate-all`: the parameters' form and local files; at `OCF_CHECK_LEVEL=10` the database too.

use super::{deep_check, fail, Ctx};
use crate::config::{Config, ConfigError};
use crate::ocf::Outcome;
use crate::shutdown::Async;

pub fn validate(ctx: &Ctx, rt: &Async) -> Outcome {
    let config = match Config::from_params(ctx.raw, ctx.env) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    if !config.state_dir.is_default && !config.state_dir.path.is_dir() {
        return fail(ConfigError::Missing(format!("state_dir {} does not exist", config.state_dir.path.display())));
    }
    if ctx.env.check_level >= 10 {
        match rt.block_on(deep_check(&config, ctx.env)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return fail(e),
            Err(o) => return o,
        }
    }
    Outcome::ok()
}
