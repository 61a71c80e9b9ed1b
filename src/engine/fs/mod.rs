//! Files the engine writes: crash-safe replacement (`atomic_file`) and symlink-safe private
//! access to the data dir (`private_fs`), shared by the store, history and publishing.

pub mod atomic_file;
pub mod private_fs;
