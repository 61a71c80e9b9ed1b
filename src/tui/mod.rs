//! The terminal dashboard: terminal lifecycle, the event loop, and the [`App`] state with its
//! pure [`App::update`]. Drawing lives in [`crate::ui`].

mod account_set;
mod app;
mod event_loop;
pub mod fleet;
mod fleet_filter;
mod fleet_index;
mod fleet_keys;
mod keys;
pub mod log_buffer;
mod msg;
mod redraw;
mod templates;
pub mod terminal;

pub use app::{
    AccountView, App, Charts, Focus, MAX_HISTORY_ROWS, Overlay, PAGE_ROWS, REQUEST_ID_BASE,
};
pub use event_loop::{DrawError, draw_first, run, run_with_clock};
pub use fleet::{FLEET_DEFAULT_ABOVE, Fleet, SortKey, View};
pub use fleet_index::FleetTable;
pub use log_buffer::{LogBuffer, MAX_LOG_LINES, MAX_PAUSED_LINES};
pub use msg::{Effect, Msg};
pub use templates::{TEMPLATES_REREAD_SECS, TemplatesView};
