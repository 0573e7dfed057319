//! Encoders planned once per input schema: a wrapper keeps the plans of the schemas it
//! has seen and hands each batch a clone (a clone shares the plan).

use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;

use crate::error::Result;

/// Input schemas whose encoder plans a wrapper keeps (a load has one; a wrapper fed by
/// several sources rarely more); the oldest goes first.
const PLANS_KEPT: usize = 8;

/// Encoders `E` planned once per input schema and cloned for each batch (a clone shares
/// the plan), so planning is not paid per batch.
pub(super) struct Plans<E>(Mutex<Vec<(SchemaRef, E)>>);

impl<E> Default for Plans<E> {
    fn default() -> Self {
        Plans(Mutex::new(Vec::new()))
    }
}

impl<E: Clone> Plans<E> {
    /// The encoder for batches of `input`, planned by `plan` the first time.
    pub(super) fn get(&self, input: &SchemaRef, plan: impl FnOnce() -> Result<E>) -> Result<E> {
        let same = |(s, _): &(SchemaRef, E)| Arc::ptr_eq(s, input) || s.fields() == input.fields();
        if let Ok(plans) = self.0.lock() {
            if let Some((_, e)) = plans.iter().find(|p| same(p)) {
                return Ok(e.clone());
            }
        }
        // Planned outside the lock; two batches of a new schema at once may both plan.
        let planned = plan()?;
        if let Ok(mut plans) = self.0.lock() {
            if !plans.iter().any(same) {
                if plans.len() >= PLANS_KEPT {
                    plans.remove(0);
                }
                plans.push((input.clone(), planned.clone()));
            }
        }
        Ok(planned)
    }
}
