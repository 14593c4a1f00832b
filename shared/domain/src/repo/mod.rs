//! The only code that knows how the domain's records lie in the table: their keys, and the
//! writes that recur (take a place, give it back, save an application under its version).

pub mod keys;
