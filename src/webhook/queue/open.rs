//! Opening the queue: the last segment recovered, each destination placed after its saved
//! ack (a new one at the end), the digests loaded, the writer prepared.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, watch};

use crate::engine::fs::private_fs::create_private_dir_all;

use super::cursors::{self, Cursor};
use super::state::{self, State};
use super::writer::Writer;
use super::{Core, QueueError, QueueOptions, dedupe, remove_segments, segment, spare};

/// What `open` prepared off the runtime's threads.
pub struct Opened {
    pub core: Arc<Core>,
    pub writer: Writer,
}

pub fn open_blocking(options: QueueOptions) -> Result<Opened, QueueError> {
    let dir = options.dir.clone();
    create_private_dir_all(&dir).map_err(|source| QueueError::Io {
        path: dir.clone(),
        source,
    })?;
    spare::recover(&dir)?;
    let mut segments = segment::list(&dir)?;
    let (active, last_seq) = match segments.last_key_value() {
        Some((&first_seq, _)) => {
            let path = segment::path(&dir, first_seq);
            let (last, len) = segment::recover(&path)?;
            segments.insert(first_seq, len);
            (first_seq, last.unwrap_or(first_seq.saturating_sub(1)))
        }
        None => {
            drop(segment::create(&dir, 1)?);
            segments.insert(1, 0);
            (1, 0)
        }
    };
    let saved = cursors::load(&dir)?;
    let mut positions = BTreeMap::new();
    for name in &options.destinations {
        let acked = match &saved {
            Some(saved) => saved.get(name).copied().unwrap_or(last_seq),
            None => 0,
        };
        let position = state::locate_after(&dir, &segments, acked)?;
        positions.insert(name.clone(), Cursor::at(acked.min(last_seq), position));
    }
    let state = State::new(segments, positions, last_seq);
    let dedupe = dedupe::DedupeSet::open(&dir, options.dedupe_capacity, options.dedupe_window)
        .map_err(|source| QueueError::Io {
            path: dir.join(dedupe::FILE_NAME),
            source,
        })?;
    let file = segment::open_append(&segment::path(&dir, active))?;
    let (durable, _) = watch::channel(last_seq);
    let core = Arc::new(Core {
        dir,
        max_bytes: options.max_bytes,
        state: Mutex::new(state),
        durable,
        save_wanted: Notify::new(),
        save_lock: Mutex::new(()),
    });
    core.save_cursors();
    remove_segments(core.release_passed_segments());
    let writer = Writer::new(Arc::clone(&core), file, dedupe, options.segment_bytes);
    Ok(Opened { core, writer })
}
