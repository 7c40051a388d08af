package catalog

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Key design. Badger has no secondary indexes, so every lookup the daemon
// needs is a key prefix. Keys sort bytewise. Assets, locations and events
// are stored in record.go's compact binary form (older catalogs' JSON
// still reads); every other value is JSON.
//
//	a/<id>                          storage.Asset (id = lowercase hex BLAKE3)
//	l/<volume>\x00<path>            storage.Location, present or removed;
//	                                UserMeta marks removed ones so scans can
//	                                skip them without reading the value
//	x/<id>/<volume>\x00<path>       empty: asset -> present location index
//	r/<id>/<volume>\x00<path>       storage.Location (state removed, no
//	                                history): where the asset was, for its
//	                                document; gone when it is there again
//	e/<seq as 8 bytes big-endian>   storage.Event; big-endian so key order is
//	                                seq order
//	y/<id>/<seq as 8 bytes>         asset -> its events (those whose
//	                                asset_id is id), in seq order; written
//	                                with the event; empty, or the length of
//	                                a run of the asset's events from seq
//	                                (assetevents.go)
//	v/<name>                        storage.Volume
//	s/<key>                         consumer state (cursors, jobs, uploads),
//	                                caller-defined JSON
//	m/appliance_id                  the appliance id (JSON string)
//	m/catalog_id                    the catalog id (JSON string), also kept
//	                                outside Badger in the identity file
//	                                (identity.go)
//	m/asset_events                  present once every event is in the y/
//	                                index (Open backfills older catalogs)
//	m/last_seq                      the last event seq (8 bytes big-endian),
//	                                written in the transaction of every event
//	m/seq                           legacy: the Badger sequence lease older
//	                                versions numbered events from (read by
//	                                nothing; seq is contiguous now)
//
// The NUL byte separates volume from path: neither a volume name nor a POSIX
// path can contain it, and it sorts before every other byte, so the prefix
// "l/<volume>\x00" holds exactly that volume's paths, in bytewise path order.
const (
	pfxAsset    = "a/"
	pfxLocation = "l/"
	pfxIndex    = "x/"
	pfxRemoved  = "r/"
	pfxEvent    = "e/"
	// pfxAssetEvent is the per-asset event index.
	pfxAssetEvent = "y/"
	pfxVolume     = "v/"
	pfxState      = "s/"
	keyAppID      = "m/appliance_id"
	keyLastSeq    = "m/last_seq"
	// keyAssetEvents marks the y/ index complete.
	keyAssetEvents = "m/asset_events"
	keySeq         = "m/seq" // legacy sequence lease

	// metaRemoved is the UserMeta of a location record whose state is
	// storage.LocRemoved.
	metaRemoved byte = 1
)

func assetKey(id string) []byte { return []byte(pfxAsset + id) }

func locKey(volume, path string) []byte {
	return []byte(pfxLocation + volume + "\x00" + path)
}

func volPrefix(volume string) []byte { return []byte(pfxLocation + volume + "\x00") }

func indexKey(id, volume, path string) []byte {
	return []byte(pfxIndex + id + "/" + volume + "\x00" + path)
}

func indexPrefix(id string) []byte { return []byte(pfxIndex + id + "/") }

func removedKey(id, volume, path string) []byte {
	return []byte(pfxRemoved + id + "/" + volume + "\x00" + path)
}

func removedPrefix(id string) []byte { return []byte(pfxRemoved + id + "/") }

// splitIndexKey returns the volume and path of an x/ or r/ key under prefix.
func splitIndexKey(key, prefix []byte) (volume, path string, ok bool) {
	rest := string(key[len(prefix):])
	volume, path, ok = strings.Cut(rest, "\x00")
	return volume, path, ok
}

func eventKey(seq uint64) []byte {
	k := make([]byte, len(pfxEvent)+8)
	copy(k, pfxEvent)
	binary.BigEndian.PutUint64(k[len(pfxEvent):], seq)
	return k
}

func eventSeq(key []byte) uint64 { return binary.BigEndian.Uint64(key[len(pfxEvent):]) }

func volumeKey(name string) []byte { return []byte(pfxVolume + name) }

func stateKey(key string) []byte { return []byte(pfxState + key) }

// checkName rejects names that would break the key design.
func checkName(what, s string) error {
	if s == "" {
		return fmt.Errorf("empty %s", what)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%s %q contains a NUL byte", what, s)
	}
	return nil
}

// checkID accepts lowercase hex content ids (at least two digits, as
// storage.OutputPath needs).
func checkID(id string) error {
	if len(id) < 2 {
		return fmt.Errorf("asset id %q: too short", id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("asset id %q: not lowercase hex", id)
		}
	}
	return nil
}
