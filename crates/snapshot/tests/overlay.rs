//! The snapshotter suite on kernel overlayfs.
berth_snapshot::snapshotter_suite!(|root: &std::path::Path| berth_snapshot::Overlay::open(root));
