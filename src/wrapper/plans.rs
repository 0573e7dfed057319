//! Encoders planned once per input schema: a wrapper keeps the plans of the schemas it
//! has seen and hands each batch a clone (a clone shares the plan).

use std::sync::Arc;

use arrow::datatypes::SchemaRef;

use crate::convert::{FlightEncoder, RowEncoder};
use crate::error::Result;

/// Input schemas whose encoder plans a wrapper keeps (a load has one; a wrapper fed by
/// several sources rarely more); the oldest goes first.
const PLANS_KEPT: usize = 8;

/// Encoders planned once per input schema and cloned for each batch (a clone shares the
/// plan), so planning is not paid per batch.
#[derive(Default)]
pub(super) struct Plans(std::sync::Mutex<Vec<Planned>>);

#[derive(Clone)]
pub(super) enum Planned {
    Proto(RowEncoder),
    Flight(FlightEncoder),
}

impl Planned {
    fn input(&self) -> &SchemaRef {
        match self {
            Planned::Proto(e) => e.schema(),
            Planned::Flight(e) => e.input_schema(),
        }
    }
}

impl Plans {
    /// The encoder for batches of `input`, planned by `plan` the first time.
    pub(super) fn get(
        &self,
        input: &SchemaRef,
        plan: impl FnOnce() -> Result<Planned>,
    ) -> Result<Planned> {
        let same =
            |p: &Planned| Arc::ptr_eq(p.input(), input) || p.input().fields() == input.fields();
        if let Ok(plans) = self.0.lock() {
            if let Some(p) = plans.iter().find(|p| same(p)) {
                return Ok(p.clone());
            }
        }
        // Planned outside the lock; two batches of a new schema at once may both plan.
        let planned = plan()?;
        if let Ok(mut plans) = self.0.lock() {
            if !plans.iter().any(same) {
                if plans.len() >= PLANS_KEPT {
                    plans.remove(0);
                }
                plans.push(planned.clone());
            }
        }
        Ok(planned)
    }
}
