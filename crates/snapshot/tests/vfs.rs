//! The snapshotter suite on the copying vfs driver.
berth_snapshot::snapshotter_suite!(|root: &std::path::Path| berth_snapshot::Vfs::open(root));
