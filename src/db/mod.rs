//! The database side: the connection to PostgreSQL ([`conn`]), the state
//! store `curq_state_history` ([`state`]) and the owner's heartbeat
//! ([`heartbeat`]). Uses the PID-1 side only to sleep while signals are
//! honoured (`Pause`) and to be called between them (`Tick`).

pub mod conn;
pub mod heartbeat;
pub mod state;
pub mod tls;
