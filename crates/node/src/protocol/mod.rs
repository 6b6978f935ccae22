//! The protocol's decisions, as pure functions: no I/O and no clock (the time is passed in).
//! Whether a worker's answer is admitted ([`admission`]), whether a verdict counts and what a
//! quorum, a dispute or a slash follows ([`verdicts`]), what goes into a batch and who is paid
//! ([`settlement`]), what a request is charged ([`pricing`]), which claims are re-executed and
//! how ([`sampling`]), which modes a request may run in ([`modes`]) and when a failed round is
//! tried again ([`retry`]). The services around them do the I/O; each decision is tested here
//! with tables of cases and properties, without HTTP or a chain.

pub mod admission;
pub mod modes;
pub mod pricing;
pub mod retry;
pub mod sampling;
pub mod settlement;
pub mod verdicts;

pub use admission::{Order, Refusal, check_chat, check_chat_answer, check_confidential_answer, check_work};
pub use modes::{Offer, check_zk_format};
pub use pricing::{Bill, Prices};
pub use retry::Backoff;
pub use sampling::{CheckMode, check_for, sampled};
pub use settlement::{Share, payable, transfers};
pub use verdicts::{Outcome, Step, VerdictRefusal, accept, resolve, tally};
