// Package watch finds files on a volume: it verifies that a volume root is
// the volume ingestd adopted (marker file, device; Verify and Adopt),
// walks a tree fast without following links (Walk: getdents + fstatat),
// and watches a tree with inotify (Watcher: recursive, bursts collapsed,
// overflow and watch-limit reported instead of failing). Ignore holds the
// built-in and user skip rules.
//
// It owns the read-only view of the volumes (and writes only the marker
// file at a volume root). It must not hash files or touch the catalog:
// deciding what a change means (settle, hash, catalog, remove) belongs to
// daemon/ingest.
package watch
