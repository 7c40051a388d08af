package storage

// State keys of the card service's records (Card, Clip). storage/catalog's
// typed accessors (Card, PutCard, Cards, Clip, PutClip, Clips) store them
// under these keys; readers such as the API and the hub pusher go through
// those accessors and never spell the keys.
const (
	ClipStatePrefix = "clips/"      // + clip id: the clip document
	CardStatePrefix = "cards/card/" // + card key: the card record
)

// ClipStateKey is the state key of clip id's document.
func ClipStateKey(id string) string { return ClipStatePrefix + id }

// CardStateKey is the state key of the record of the card with that key
// (filesystem UUID and content fingerprint).
func CardStateKey(key string) string { return CardStatePrefix + key }
